"""Wait tokens and durable waits (CONTRACT.md §1, §3 waitpoints).

A run that waits is not a thread that sleeps: it becomes WAITING, its worker moves on, and a
row records what it waits for. Completing the token (or its timeout, or the wake-up time of
``wait.for_duration``) records the result as a step of the run and re-queues it; its task
function is then called again, and every durable call already made returns its recorded result
(durable replay, as in Temporal, Inngest and DBOS).
"""

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from realtime_runs.conf import runs_settings
from realtime_runs.durations import format_duration
from realtime_runs.engine.changes import move_run
from realtime_runs.engine.executors import get_executor, hand_off
from realtime_runs.engine.jsonvalue import strict_json
from realtime_runs.engine.options import DurationField, TagsField
from realtime_runs.errors import InvalidInput, NotFound
from realtime_runs.models import (
    Run,
    RunStatus,
    RunStep,
    TaskCounter,
    WaitToken,
    WaitTokenStatus,
    WaitTokenTag,
    idempotency_hash,
)


class WaitpointTimeoutError(Exception):
    """What ``WaitResult.unwrap()`` raises for a token that timed out."""


@dataclass(frozen=True)
class WaitResult:
    ok: bool
    output: object = None
    error: dict | None = None

    def unwrap(self):
        """The output, or WaitpointTimeoutError if the token timed out."""
        if not self.ok:
            raise WaitpointTimeoutError((self.error or {}).get("message", "the wait failed"))
        return self.output

    def to_json(self):
        return {"ok": self.ok, "output": self.output, "error": self.error}

    @classmethod
    def from_json(cls, data):
        return cls(data["ok"], data.get("output"), data.get("error"))

    @classmethod
    def of(cls, token: WaitToken):
        return cls(token.status == WaitTokenStatus.COMPLETED, token.output, token.error)


def callback_signature(token_id) -> str:
    """The HMAC in a token's callback URL: whoever has the URL may complete the token."""
    return hmac.new(
        settings.SECRET_KEY.encode(),
        f"realtime_runs.waitpoint:{token_id}".encode(),
        hashlib.sha256,
    ).hexdigest()[:40]


def callback_path(token_id) -> str:
    return f"/api/v1/waitpoints/tokens/{token_id}/callback/{callback_signature(token_id)}"


def _validate(field, value, name):
    try:
        return field.run_validation(value)
    except Exception as exc:  # a DRF ValidationError: keep its words
        detail = getattr(exc, "detail", exc)
        messages = detail if isinstance(detail, list) else [detail]
        raise InvalidInput({name: [str(m) for m in messages]}) from None


def get_token(token_id) -> WaitToken:
    usable = isinstance(token_id, str) and "\x00" not in token_id
    token = WaitToken.objects.filter(pk=token_id).first() if usable else None
    if token is None:
        raise NotFound(f"No wait token with the id {token_id!r}.", code="waitpoint_not_found")
    return token


def create_token(
    timeout=None, idempotency_key=None, idempotency_key_ttl=None, tags=None, created_by_run=None
) -> tuple[WaitToken, bool]:
    """A new wait token, or (with an idempotency key in use) the existing one: (token, cached)."""
    now = timezone.now()
    timeout_s = _validate(DurationField(), timeout, "timeout") if timeout is not None else None
    tags = _validate(TagsField(), tags, "tags") if tags is not None else []
    key = idempotency_key or ""
    if (
        not isinstance(key, str)
        or "\x00" in key
        or len(key) > runs_settings.MAX_IDEMPOTENCY_KEY_LENGTH
    ):
        raise InvalidInput(
            {
                "idempotencyKey": "must be a string of at most "
                f"{runs_settings.MAX_IDEMPOTENCY_KEY_LENGTH} characters"
            }
        )
    key_ttl = (
        _validate(DurationField(), idempotency_key_ttl, "idempotencyKeyTTL")
        if idempotency_key_ttl is not None
        else runs_settings.DEFAULT_IDEMPOTENCY_KEY_TTL
    )
    with transaction.atomic():
        if key:
            # One row lock serializes creations that share idempotency keys.
            TaskCounter.objects.get_or_create(task_identifier="waitpoints")
            TaskCounter.objects.select_for_update().get(task_identifier="waitpoints")
            cached = WaitToken.objects.filter(
                idempotency_hash=idempotency_hash(key), idempotency_key_expires_at__gt=now
            ).first()
            if cached is not None:
                return cached, True
        token = WaitToken.objects.create(
            tags=tags,
            idempotency_key=key,
            idempotency_hash=idempotency_hash(key),
            idempotency_key_expires_at=now + timedelta(seconds=key_ttl) if key else None,
            timeout_at=now + timedelta(seconds=timeout_s) if timeout_s is not None else None,
            created_by_run_id=created_by_run,
        )
        WaitTokenTag.objects.bulk_create(WaitTokenTag(token=token, name=t) for t in tags)
    return token, False


def complete_token(
    token_id, output=None, *, timed_out=False, user=None, api_key=None, jti=""
) -> tuple[WaitToken, bool]:
    """Complete a token and resume the runs waiting on it: (token, was it already complete)."""
    now = timezone.now()
    strict_json(output, "data")
    with transaction.atomic():
        token = WaitToken.objects.select_for_update().filter(pk=token_id).first()
        if token is None:
            raise NotFound(f"No wait token with the id {token_id!r}.", code="waitpoint_not_found")
        if token.is_completed:
            return token, True
        token.completed_at = now
        if timed_out:
            token.status = WaitTokenStatus.TIMED_OUT
            token.error = {
                "message": f"The wait token timed out after "
                f"{format_duration((token.timeout_at - token.created_at).total_seconds())}.",
                "name": "WaitpointTimeoutError",
            }
        else:
            token.status = WaitTokenStatus.COMPLETED
            token.output = output
        token.completed_by_user = user
        token.completed_by_key = api_key
        token.completed_by_token = jti
        token.save()
        result = WaitResult.of(token)
        for run_id, key in Run.objects.filter(
            waiting_for=token, status=RunStatus.WAITING
        ).values_list("id", "waiting_key"):
            resume(run_id, key, result.to_json())
    return token, False


def resume(run_id, key, result, now=None) -> bool:
    """Record a wait's result as a step of the run and queue the run to go on (in a transaction)."""
    now = now or timezone.now()
    RunStep.objects.get_or_create(run_id=run_id, key=key, defaults={"result": result})
    moved = move_run(
        run_id,
        RunStatus.EXECUTING,
        from_statuses=[RunStatus.WAITING],
        waiting_for=None,
        waiting_key="",
        wake_at=None,
        ready_at=now,
        handed_off_at=now,
    )
    if moved:
        hand_off(run_id)
    return moved


def suspend(run_id, worker_id, key, marks, *, token_id=None, wake_at=None):
    """Make an executing run WAITING, if its token is still open; returns the token's result
    instead when it completed in the meantime, or None once suspended."""
    now = timezone.now()
    with transaction.atomic():
        if token_id is not None:
            token = WaitToken.objects.select_for_update().filter(pk=token_id).first()
            if token is None:
                raise NotFound(
                    f"No wait token with the id {token_id!r}.", code="waitpoint_not_found"
                )
            if token.is_completed:
                result = WaitResult.of(token)
                RunStep.objects.get_or_create(
                    run_id=run_id, key=key, defaults={"result": result.to_json()}
                )
                return result
        moved = move_run(
            run_id,
            RunStatus.WAITING,
            from_statuses=[RunStatus.EXECUTING],
            where={"worker_id": worker_id},
            waiting_for_id=token_id,
            waiting_key=key,
            wake_at=wake_at,
            suspended_at=now,
            worker_id="",
            heartbeat_at=None,
            replay_marks=marks,
        )
        if moved and wake_at is not None:
            transaction.on_commit(partial(get_executor().submit, run_id, wake_at))
    return None if moved else False


def wake_due(run_id=None, now=None) -> int:
    """Resume runs whose ``wait.for_duration``/``wait.until`` time has come."""
    now = now or timezone.now()
    due = Run.objects.filter(status=RunStatus.WAITING, waiting_for__isnull=True, wake_at__lte=now)
    if run_id is not None:
        due = due.filter(pk=run_id)
    woken = 0
    for rid, key in due.values_list("id", "waiting_key")[:500]:
        with transaction.atomic():
            woken += resume(rid, key, None, now)
    return woken


def sweep_waits(now=None) -> dict:
    """Time out tokens past their timeout; wake runs that are due; resume lost resumes."""
    now = now or timezone.now()
    timed_out = 0
    for token_id in (
        WaitToken.objects.waiting().filter(timeout_at__lte=now).values_list("id", flat=True)[:500]
    ):
        _, already = complete_token(token_id, timed_out=True)
        timed_out += not already
    # A run still WAITING on a completed token: its resume was lost (a crash mid-way).
    lost = 0
    for run_id, key, token_id in Run.objects.filter(
        status=RunStatus.WAITING,
        waiting_for__status__in=[WaitTokenStatus.COMPLETED, WaitTokenStatus.TIMED_OUT],
    ).values_list("id", "waiting_key", "waiting_for")[:500]:
        with transaction.atomic():
            lost += resume(run_id, key, WaitResult.of(get_token(token_id)).to_json(), now)
    return {"tokens_timed_out": timed_out, "woken": wake_due(now=now), "resumed": lost}
