"""Public access tokens (CONTRACT.md §2): scopes, minting and verifying JWTs.

A scope is ``action:type[:id]``; the id is everything after the second colon, so tags and ids
may contain colons themselves. ``read:all`` and ``admin`` are the two specials.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt
from django.db import transaction
from django.utils import timezone

from realtime_runs import ids
from realtime_runs.conf import runs_settings
from realtime_runs.durations import parse_duration
from realtime_runs.errors import Forbidden, InvalidInput, Unauthorized, Unprocessable
from realtime_runs.models import AccessToken, SigningKey

ACTIONS = ("read", "write", "trigger", "batchTrigger")
TYPES = ("runs", "tags", "batch", "tasks", "waitpoints")
SPECIALS = ("read:all", "admin")
ALGORITHM = "HS256"


# -- scopes ---------------------------------------------------------------------------------


def flatten_scopes(scopes) -> list[str]:
    """``{"read": {"runs": ["a"]}}`` → ``["read:runs:a"]``; a list of strings passes through.

    Raises InvalidInput for anything that is not a scope of the grammar.
    """
    flat = []
    if isinstance(scopes, str):
        scopes = [scopes]
    if isinstance(scopes, dict):
        for action, types in scopes.items():
            if action in ("admin",) and types is True:
                flat.append("admin")
                continue
            if action == "read" and types == "all":
                flat.append("read:all")
                continue
            if not isinstance(types, dict):
                raise InvalidInput({f"scopes.{action}": "must map types to true or a list of ids"})
            for kind, value in types.items():
                if value is True:
                    flat.append(f"{action}:{kind}")
                elif isinstance(value, list) and all(isinstance(v, str) and v for v in value):
                    flat.extend(f"{action}:{kind}:{item}" for item in value)
                elif isinstance(value, str) and value:
                    flat.append(f"{action}:{kind}:{value}")
                else:
                    raise InvalidInput(
                        {f"scopes.{action}.{kind}": "must be true, an id, or a list of ids"}
                    )
    elif isinstance(scopes, list | tuple):
        flat = list(scopes)
    else:
        raise InvalidInput({"scopes": "must be a list of scope strings or an object"})
    for scope in flat:
        validate_scope(scope)
    if not flat:
        raise InvalidInput({"scopes": "at least one scope is required"})
    return list(dict.fromkeys(flat))


def validate_scope(scope):
    if not isinstance(scope, str):
        raise InvalidInput({"scopes": f"{scope!r} is not a string"})
    if scope in SPECIALS:
        return
    if "\x00" in scope:  # PostgreSQL's JSON cannot store it: refuse it here, not with a 500
        raise InvalidInput({"scopes": f"{scope!r} contains a NUL character"})
    parts = scope.split(":", 2)
    if (
        len(parts) < 2
        or parts[0] not in ACTIONS
        or parts[1] not in TYPES
        or (len(parts) == 3 and not parts[2])
    ):
        raise InvalidInput(
            {
                "scopes": f"{scope!r} is not a scope: use action:type[:id] with an action of "
                f"{', '.join(ACTIONS)} and a type of {', '.join(TYPES)}, or read:all, admin"
            }
        )


def permits(held: Iterable[str], *any_of: str) -> bool:
    """The one scope check: does a token holding ``held`` hold any of the scopes ``any_of``?

    The callers below say, for each kind of request, which scopes pass (CONTRACT.md §2).
    """
    return not set(held).isdisjoint(any_of)


def can_read_run(held, run_id, tags=(), batch_id=None, task_id=None) -> bool:
    return permits(
        held,
        f"read:runs:{run_id}",
        *(f"read:tags:{t}" for t in tags),
        *([f"read:batch:{batch_id}"] if batch_id else []),
        *([f"read:tasks:{task_id}"] if task_id else []),
        "read:runs",
        "read:all",
        "admin",
    )


def can_read_tags(held, tags) -> bool:
    return permits(held, *(f"read:tags:{t}" for t in tags), "read:runs", "read:all", "admin")


def can_read_batch(held, batch_id) -> bool:
    return permits(held, f"read:batch:{batch_id}", "read:runs", "read:all", "admin")


def can_trigger(held, task_id) -> bool:
    return permits(held, f"trigger:tasks:{task_id}", "write:tasks", "admin")


def can_batch_trigger(held, task_ids) -> bool:
    if permits(held, "write:tasks", "admin"):
        return True
    return bool(task_ids) and all(permits(held, f"batchTrigger:tasks:{t}") for t in task_ids)


def can_complete_waitpoint(held, waitpoint_id) -> bool:
    return permits(held, f"write:waitpoints:{waitpoint_id}", "write:waitpoints", "admin")


def forbidden(held, what) -> Forbidden:
    return Forbidden(
        f"This token may not {what}. It holds: {', '.join(held) or 'no scopes'}.",
        scopes=list(held),
    )


# -- minting --------------------------------------------------------------------------------


def signing_key() -> SigningKey:
    """The key that signs new tokens: the newest one not retired (one is made if none)."""
    key = SigningKey.objects.filter(retired_at__isnull=True).order_by("-created_at").first()
    return key or SigningKey.objects.create()


def expiry_seconds(expiration_time) -> float:
    if expiration_time is None:
        return runs_settings.PUBLIC_TOKEN_LIFETIME
    try:
        seconds = parse_duration(expiration_time)
    except ValueError as exc:
        raise InvalidInput({"expirationTime": str(exc)}) from None
    if not 0 < seconds <= runs_settings.MAX_PUBLIC_TOKEN_LIFETIME:
        raise InvalidInput(
            {
                "expirationTime": "must be longer than zero and at most "
                f"{runs_settings.MAX_PUBLIC_TOKEN_LIFETIME:g} seconds"
            }
        )
    return seconds


def create_token(
    scopes,
    *,
    expiration_time=None,
    one_time=False,
    issued_by_user=None,
    issued_by_key=None,
    label="",
) -> str:
    """Mint and record a public access token; returns the JWT."""
    flat = flatten_scopes(scopes)
    lifetime = expiry_seconds(expiration_time)
    key = signing_key()
    now = timezone.now()
    # The record expires when the JWT does (``exp`` is whole seconds), so that every check
    # (REST, a subscription's timer) ends the token at the same moment.
    exp = math.ceil(now.timestamp() + lifetime)
    record = AccessToken.objects.create(
        jti=ids.token_id(),
        kid=key.kid,
        scopes=flat,
        issued_at=now,
        expires_at=datetime.fromtimestamp(exp, tz=UTC),
        one_time=one_time,
        issued_by_user=issued_by_user,
        issued_by_key=issued_by_key,
        label=label[:200],
    )
    claims = {
        "sub": runs_settings.DEPLOYMENT_ID,
        "pub": True,
        "scopes": flat,
        "iat": int(now.timestamp()),
        "exp": exp,
        "jti": record.jti,
    }
    if one_time:
        claims["otu"] = True
    return jwt.encode(claims, key.secret, algorithm=ALGORITHM, headers={"kid": key.kid})


# -- verifying ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verified:
    """A token that passed every check: what it may do, and its record."""

    jti: str
    scopes: tuple
    expires_at: object
    one_time: bool

    def consume(self):
        """Use up a one-time token, in the caller's transaction: a second use is a 422."""
        if not self.one_time:
            return
        used = AccessToken.objects.filter(jti=self.jti, used_at__isnull=True).update(
            used_at=timezone.now()
        )
        if not used:
            raise Unprocessable(
                "This one-time token was already used; ask for a new one.", code="token_used"
            )


def looks_like_jwt(credential: str) -> bool:
    return credential.count(".") == 2


def verify(token: str) -> Verified:
    """Check a public access token's signature, expiry and record; raises Unauthorized."""
    if not isinstance(token, str) or not looks_like_jwt(token):
        raise Unauthorized("Malformed token: a public access token is a JWT.", code="unauthorized")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Unauthorized("Malformed token: its header is not readable.") from None
    key = SigningKey.objects.filter(kid=header.get("kid"), retired_at__isnull=True).first()
    if key is None:
        raise Unauthorized("The token was signed with an unknown or retired key.")
    try:
        claims = jwt.decode(
            token,
            key.secret,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "jti", "sub"]},
            leeway=0,
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("The token has expired.", code="token_expired") from None
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"Invalid token: {exc}.") from None
    if claims.get("sub") != runs_settings.DEPLOYMENT_ID or claims.get("pub") is not True:
        raise Unauthorized("The token is not a public access token of this deployment.")
    record = AccessToken.objects.filter(jti=claims["jti"]).first()
    if record is None:
        raise Unauthorized("The token is not one this deployment issued.")
    if record.revoked_at is not None:
        raise Unauthorized("The token was revoked.", code="token_revoked")
    if record.one_time and record.used_at is not None:
        raise Unprocessable(
            "This one-time token was already used; ask for a new one.", code="token_used"
        )
    return Verified(record.jti, tuple(record.scopes), record.expires_at, record.one_time)


def retire_key(kid):
    """Stop verifying tokens signed by ``kid`` (after a rotation, once they have expired)."""
    with transaction.atomic():
        SigningKey.objects.filter(kid=kid, retired_at__isnull=True).update(
            retired_at=timezone.now()
        )


def rotate_key() -> SigningKey:
    """Make a new signing key; the old ones keep verifying until retired."""
    return SigningKey.objects.create()
