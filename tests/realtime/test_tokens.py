"""Public access tokens as units (CONTRACT.md §2): scope grammar, the scope table, JWTs."""

import time
from datetime import timedelta

import jwt
import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_runs import tokens
from realtime_runs.conf import runs_settings
from realtime_runs.errors import InvalidInput, Unauthorized, Unprocessable
from realtime_runs.models import AccessToken, SigningKey

# -- flatten_scopes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scopes, flat",
    [
        ({"read": {"runs": ["a", "b"]}}, ["read:runs:a", "read:runs:b"]),
        ({"read": {"runs": True}}, ["read:runs"]),
        ({"read": {"runs": "a"}}, ["read:runs:a"]),
        (
            {"read": {"runs": ["r1"], "tags": ["t:1"], "batch": ["b1"], "tasks": ["x"]}},
            ["read:runs:r1", "read:tags:t:1", "read:batch:b1", "read:tasks:x"],
        ),
        ({"trigger": {"tasks": ["my-task"]}}, ["trigger:tasks:my-task"]),
        ({"batchTrigger": {"tasks": ["a", "b"]}}, ["batchTrigger:tasks:a", "batchTrigger:tasks:b"]),
        ({"write": {"waitpoints": True, "tasks": True}}, ["write:waitpoints", "write:tasks"]),
        ({"admin": True}, ["admin"]),
        ({"read": "all"}, ["read:all"]),
        (["read:runs:a", "read:all"], ["read:runs:a", "read:all"]),
        (("admin",), ["admin"]),
        ("read:runs:a", ["read:runs:a"]),
        (["read:runs:a", "read:runs:a"], ["read:runs:a"]),  # duplicates once, order kept
    ],
)
def test_flatten_scopes(scopes, flat):
    assert tokens.flatten_scopes(scopes) == flat


@pytest.mark.parametrize(
    "scopes",
    [
        None,
        42,
        {},
        [],
        [""],
        [1],
        ["read"],
        ["read:"],
        ["read:runs:"],
        ["read:nothing"],
        ["delete:runs"],
        ["admin:runs"],
        ["read:all:x"],
        ["READ:runs"],
        {"read": ["runs"]},
        {"read": True},
        {"admin": False},
        {"read": {"runs": False}},
        {"read": {"runs": [""]}},
        {"read": {"runs": [1]}},
        {"read": {"runs": ""}},
        {"read": {"runs": None}},
        {"read": {"bogus": True}},
        {"bogus": {"runs": True}},
        {"read": {"runs": []}},
    ],
)
def test_flatten_scopes_refuses_what_is_not_a_scope(scopes):
    with pytest.raises(InvalidInput) as info:
        tokens.flatten_scopes(scopes)
    assert info.value.status == 400
    assert any(name.startswith("scopes") for name in info.value.details["fields"])


# -- the scope table, row by row --------------------------------------------------------------

RUN = {"run_id": "run_1", "tags": ["t1", "t2"], "batch_id": "batch_1", "task_id": "task-x"}


@pytest.mark.parametrize(
    "held",
    [
        ["read:runs:run_1"],
        ["read:tags:t1"],
        ["read:tags:t2"],
        ["read:batch:batch_1"],
        ["read:tasks:task-x"],
        ["read:runs"],
        ["read:all"],
        ["admin"],
        ["read:runs:other", "read:tags:t2"],
    ],
)
def test_read_run_passes(held):
    assert tokens.can_read_run(held, **RUN)


@pytest.mark.parametrize(
    "held",
    [
        [],
        ["read:runs:run_2"],
        ["read:runs:run_"],
        ["read:tags:t3"],
        ["read:tags"],
        ["read:batch:batch_2"],
        ["read:batch"],
        ["read:tasks:task-y"],
        ["read:tasks"],
        ["write:runs:run_1"],
        ["write:runs"],
        ["trigger:tasks:task-x"],
        ["write:tasks"],
        ["write:waitpoints"],
    ],
)
def test_read_run_refused(held):
    assert not tokens.can_read_run(held, **RUN)


def test_read_run_without_batch_is_not_read_by_an_empty_batch_scope():
    assert not tokens.can_read_run(["read:batch:None"], "run_1", [], None, "task-x")
    assert not tokens.can_read_run(["read:batch:"], "run_1", [], None, "task-x")


@pytest.mark.parametrize(
    "held", [["read:tags:a"], ["read:tags:b"], ["read:runs"], ["read:all"], ["admin"]]
)
def test_tag_feed_passes_with_one_of_the_tags(held):
    assert tokens.can_read_tags(held, ["a", "b"])


@pytest.mark.parametrize(
    "held",
    [
        [],
        ["read:tags:c"],
        ["read:tags"],
        ["read:runs:a"],
        ["read:batch:a"],
        ["read:tasks:a"],
        ["write:tasks"],
    ],
)
def test_tag_feed_refused(held):
    assert not tokens.can_read_tags(held, ["a", "b"])


@pytest.mark.parametrize("held", [["read:batch:b1"], ["read:runs"], ["read:all"], ["admin"]])
def test_batch_feed_passes(held):
    assert tokens.can_read_batch(held, "b1")


@pytest.mark.parametrize(
    "held", [[], ["read:batch:b2"], ["read:batch"], ["read:runs:b1"], ["read:tags:b1"]]
)
def test_batch_feed_refused(held):
    assert not tokens.can_read_batch(held, "b1")


@pytest.mark.parametrize("held", [["trigger:tasks:x"], ["write:tasks"], ["admin"]])
def test_trigger_passes(held):
    assert tokens.can_trigger(held, "x")


@pytest.mark.parametrize(
    "held",
    [
        [],
        ["trigger:tasks:y"],
        ["trigger:tasks"],
        ["batchTrigger:tasks:x"],
        ["read:all"],
        ["read:runs"],
        ["write:tasks:x"],
        ["write:runs"],
    ],
)
def test_trigger_refused(held):
    assert not tokens.can_trigger(held, "x")


@pytest.mark.parametrize(
    "held",
    [
        ["batchTrigger:tasks:x", "batchTrigger:tasks:y"],
        ["write:tasks"],
        ["admin"],
    ],
)
def test_batch_trigger_passes(held):
    assert tokens.can_batch_trigger(held, ["x", "y"])


@pytest.mark.parametrize(
    "held",
    [
        [],
        ["batchTrigger:tasks:x"],  # not every task of the batch
        ["trigger:tasks:x", "trigger:tasks:y"],
        ["batchTrigger:tasks"],
        ["read:all"],
    ],
)
def test_batch_trigger_refused(held):
    assert not tokens.can_batch_trigger(held, ["x", "y"])


def test_batch_trigger_of_nothing_needs_a_broad_scope():
    assert not tokens.can_batch_trigger(["batchTrigger:tasks:x"], [])
    assert tokens.can_batch_trigger(["write:tasks"], [])


@pytest.mark.parametrize("held", [["write:waitpoints:w1"], ["write:waitpoints"], ["admin"]])
def test_complete_waitpoint_passes(held):
    assert tokens.can_complete_waitpoint(held, "w1")


@pytest.mark.parametrize(
    "held",
    [[], ["write:waitpoints:w2"], ["read:waitpoints:w1"], ["read:all"], ["write:tasks"]],
)
def test_complete_waitpoint_refused(held):
    assert not tokens.can_complete_waitpoint(held, "w1")


def test_forbidden_lists_what_the_token_holds():
    error = tokens.forbidden(["read:runs:a", "read:tags:b"], "read the run c")
    assert error.status == 403 and error.code == "forbidden"
    assert "read:runs:a" in error.message and "read:tags:b" in error.message
    assert error.details["scopes"] == ["read:runs:a", "read:tags:b"]


# -- ids and tags with colons ----------------------------------------------------------------

part = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00"),
    min_size=1,
    max_size=12,
)
with_colons = st.lists(part, min_size=1, max_size=4).map(":".join)


@pytest.mark.parametrize("scopes", [["read:tags:a\x00b"], {"read": {"runs": ["run_\x00"]}}])
def test_a_nul_character_is_not_part_of_a_scope(scopes):
    """PostgreSQL's JSON cannot store U+0000: it must be a 400, not a database error."""
    with pytest.raises(InvalidInput):
        tokens.flatten_scopes(scopes)


@given(a=part, b=part)
def test_a_tag_scope_with_colons_reads_that_tag_only(a, b):
    held = tokens.flatten_scopes([f"read:tags:{a}:{b}"])
    assert tokens.can_read_tags(held, [f"{a}:{b}"])
    assert not tokens.can_read_tags(held, [a])
    assert not tokens.can_read_tags(held, [b])
    assert tokens.can_read_run(held, "run_x", tags=[f"{a}:{b}"])
    assert not tokens.can_read_run(held, "run_x", tags=[a, b])
    assert not tokens.can_read_run(held, f"{a}:{b}", tags=[])


@given(value=with_colons, other=with_colons)
def test_ids_with_colons_match_exactly(value, other):
    for kind, check in [
        ("runs", lambda held, v: tokens.can_read_run(held, v)),
        ("batch", tokens.can_read_batch),
    ]:
        held = tokens.flatten_scopes({"read": {kind: [value]}})
        assert held == [f"read:{kind}:{value}"]
        assert check(held, value)
        assert check(held, other) == (other == value)
    held = tokens.flatten_scopes({"trigger": {"tasks": [value]}})
    assert tokens.can_trigger(held, value)
    assert tokens.can_trigger(held, other) == (other == value)
    held = tokens.flatten_scopes({"write": {"waitpoints": [value]}})
    assert tokens.can_complete_waitpoint(held, value)
    assert tokens.can_complete_waitpoint(held, other) == (other == value)


@given(value=with_colons)
def test_a_prefix_before_a_colon_is_not_the_id(value):
    prefix = value.split(":")[0]
    held = [f"read:runs:{prefix}"]
    assert tokens.can_read_run(held, value) == (prefix == value)
    # and the id scope never spills into the bare type scope
    assert not tokens.can_read_run([f"read:runs:{value}"], "something-else")


# -- minting and verifying -------------------------------------------------------------------

pytestmark_db = pytest.mark.django_db


def claims_of(token):
    return jwt.decode(token, options={"verify_signature": False})


@pytestmark_db
def test_claims_header_and_record():
    before = time.time()
    token = tokens.create_token({"read": {"runs": ["run_a"], "tags": ["x"]}})
    claims = claims_of(token)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    assert header["kid"] == tokens.signing_key().kid
    assert claims["sub"] == runs_settings.DEPLOYMENT_ID
    assert claims["pub"] is True
    assert claims["scopes"] == ["read:runs:run_a", "read:tags:x"]
    assert "otu" not in claims
    assert int(before) <= claims["iat"] <= time.time()
    assert claims["exp"] - claims["iat"] == pytest.approx(15 * 60, abs=1)
    record = AccessToken.objects.get(jti=claims["jti"])
    assert record.scopes == claims["scopes"]
    assert record.kid == header["kid"]
    assert not record.one_time and record.used_at is None and record.revoked_at is None
    # the record ends exactly when the JWT does, and not before the lifetime asked for
    assert record.expires_at.timestamp() == claims["exp"]
    assert record.expires_at >= record.issued_at + timedelta(minutes=15)
    verified = tokens.verify(token)
    assert verified.expires_at.timestamp() == claims["exp"]
    assert verified.jti == claims["jti"]
    assert verified.scopes == ("read:runs:run_a", "read:tags:x")
    assert verified.one_time is False


@pytestmark_db
def test_every_token_is_recorded_with_a_fresh_jti():
    issued = [tokens.create_token(["read:runs"]) for _ in range(5)]
    jtis = [claims_of(t)["jti"] for t in issued]
    assert len(set(jtis)) == 5
    assert set(AccessToken.objects.values_list("jti", flat=True)) == set(jtis)


@pytestmark_db
def test_one_time_token_has_otu_and_is_used_once():
    token = tokens.create_token(["trigger:tasks:x"], one_time=True)
    assert claims_of(token)["otu"] is True
    verified = tokens.verify(token)
    assert verified.one_time
    verified.consume()
    assert AccessToken.objects.get(jti=verified.jti).used_at is not None
    with pytest.raises(Unprocessable, match="already used"):
        tokens.verify(token)
    with pytest.raises(Unprocessable, match="already used"):
        verified.consume()


@pytestmark_db
def test_multiple_use_token_is_not_used_up():
    verified = tokens.verify(tokens.create_token(["trigger:tasks:x"]))
    verified.consume()
    verified.consume()
    assert AccessToken.objects.get(jti=verified.jti).used_at is None


@pytestmark_db
@pytest.mark.parametrize("expiration, seconds", [("1h", 3600), (90, 90), ("2d", 2 * 86400)])
def test_expiration_time(expiration, seconds):
    claims = claims_of(tokens.create_token(["read:all"], expiration_time=expiration))
    assert claims["exp"] - claims["iat"] == pytest.approx(seconds, abs=1)


@pytestmark_db
@pytest.mark.parametrize("expiration", [0, -5, "0s", "nonsense", "31d", [1]])
def test_bad_expiration_time_is_invalid_and_records_nothing(expiration):
    with pytest.raises(InvalidInput):
        tokens.create_token(["read:all"], expiration_time=expiration)
    assert not AccessToken.objects.exists()


@pytestmark_db
def test_expired_token_is_refused_as_expired():
    token = tokens.create_token(["read:all"])
    jti = claims_of(token)["jti"]
    # Re-sign the same claims with an exp in the past, as if time had passed.
    claims = {**claims_of(token), "exp": int(time.time()) - 1}
    key = SigningKey.objects.get(kid=jwt.get_unverified_header(token)["kid"])
    old = jwt.encode(claims, key.secret, algorithm="HS256", headers={"kid": key.kid})
    AccessToken.objects.filter(jti=jti).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(Unauthorized) as info:
        tokens.verify(old)
    assert info.value.code == "token_expired" and info.value.status == 401
    assert "expired" in info.value.message


@pytestmark_db
def test_revoked_token_is_refused_as_revoked():
    token = tokens.create_token(["read:all"])
    tokens.verify(token)
    AccessToken.objects.get(jti=claims_of(token)["jti"]).revoke()
    with pytest.raises(Unauthorized) as info:
        tokens.verify(token)
    assert info.value.code == "token_revoked" and info.value.status == 401
    assert "revoked" in info.value.message


def _tamper(token, index):
    head, body, signature = token.split(".")
    parts = [head, body, signature]
    text = parts[index]
    middle = len(text) // 2
    parts[index] = text[:middle] + ("A" if text[middle] != "A" else "B") + text[middle + 1 :]
    return ".".join(parts)


@pytestmark_db
@pytest.mark.parametrize("index", [1, 2])
def test_tampered_token_is_401(index):
    token = tokens.create_token(["read:runs:run_a"])
    with pytest.raises(Unauthorized) as info:
        tokens.verify(_tamper(token, index))
    assert info.value.status == 401


@pytestmark_db
def test_more_scopes_in_the_claims_than_were_issued_is_refused():
    token = tokens.create_token(["read:runs:run_a"])
    forged = jwt.encode(
        {**claims_of(token), "scopes": ["admin"]},
        "a guessed key that is long enough for hs256",
        headers={"kid": "whatever"},
    )
    with pytest.raises(Unauthorized):
        tokens.verify(forged)
    # the right kid, a wrong key
    kid = jwt.get_unverified_header(token)["kid"]
    forged = jwt.encode(
        {**claims_of(token), "scopes": ["admin"]},
        "a guessed key that is long enough for hs256",
        headers={"kid": kid},
    )
    with pytest.raises(Unauthorized):
        tokens.verify(forged)


@pytestmark_db
@pytest.mark.parametrize("value", ["", "abc", "a.b", "a.b.c", "rr_sk_x", None, 5])
def test_malformed_tokens_are_401(value):
    with pytest.raises(Unauthorized) as info:
        tokens.verify(value)
    assert info.value.status == 401


@pytestmark_db
def test_other_deployment_or_not_public_is_refused():
    key = tokens.signing_key()
    base = {
        "sub": runs_settings.DEPLOYMENT_ID,
        "pub": True,
        "scopes": ["admin"],
        "iat": int(time.time()),
        "exp": int(time.time()) + 60,
        "jti": "tok_unrecorded",
    }

    def sign(**changes):
        claims = {k: v for k, v in {**base, **changes}.items() if v is not None}
        return jwt.encode(claims, key.secret, algorithm="HS256", headers={"kid": key.kid})

    for token in [sign(), sign(sub="elsewhere"), sign(pub=None), sign(pub=False), sign(jti=None)]:
        with pytest.raises(Unauthorized):
            tokens.verify(token)


@pytestmark_db
def test_rotated_key_keeps_old_tokens_until_retired():
    old_token = tokens.create_token(["read:all"])
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    new_key = tokens.rotate_key()
    assert new_key.kid != old_kid
    new_token = tokens.create_token(["read:all"])
    assert jwt.get_unverified_header(new_token)["kid"] == new_key.kid
    tokens.verify(old_token)
    tokens.verify(new_token)
    tokens.retire_key(old_kid)
    with pytest.raises(Unauthorized) as info:
        tokens.verify(old_token)
    assert info.value.status == 401
    assert "retired" in info.value.message
    tokens.verify(new_token)
    assert jwt.get_unverified_header(tokens.create_token(["read:all"]))["kid"] == new_key.kid


@pytestmark_db
def test_retiring_the_only_key_makes_a_new_one_for_new_tokens():
    first = tokens.create_token(["read:all"])
    tokens.retire_key(jwt.get_unverified_header(first)["kid"])
    second = tokens.create_token(["read:all"])
    assert jwt.get_unverified_header(second)["kid"] != jwt.get_unverified_header(first)["kid"]
    tokens.verify(second)
    with pytest.raises(Unauthorized):
        tokens.verify(first)


@pytestmark_db
def test_key_secret_is_derived_not_stored():
    key = tokens.signing_key()
    stored = SigningKey.objects.values().get(kid=key.kid)
    assert all(key.secret.hex() not in str(v) for v in stored.values())
    token = tokens.create_token(["read:all"])
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, key.salt, algorithms=["HS256"])


@settings(max_examples=25, deadline=None)
@given(tag=with_colons)
@pytestmark_db
def test_minted_tag_tokens_round_trip(tag):
    held = tokens.verify(tokens.create_token({"read": {"tags": [tag]}})).scopes
    assert held == (f"read:tags:{tag}",)
    assert tokens.can_read_tags(held, [tag])
    prefix = tag.rsplit(":", 1)[0]
    assert tokens.can_read_tags(held, [prefix]) == (prefix == tag)
