"""Public access tokens over REST (CONTRACT.md §2, §3): issuing, trigger tokens, read tokens."""

import threading
import time
from datetime import timedelta

import jwt
import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from realtime_runs import tokens
from realtime_runs.models import AccessToken, Batch, Run
from realtime_runs.sdk import auth
from tests.api.support import BATCH, RUN, TRIGGER, assert_error, row_counts

pytestmark = pytest.mark.django_db

PUBLIC_TOKENS = "/api/v1/auth/public-tokens"


def bearer(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def claims_of(token):
    return jwt.decode(token, options={"verify_signature": False})


def trigger(client, task="test-echo", body=None):
    return client.post(TRIGGER.format(task), body or {"payload": {"a": 1}}, format="json")


# -- POST /api/v1/auth/public-tokens ---------------------------------------------------------


def test_issue_a_token_with_the_asked_scopes(api):
    response = api.post(
        PUBLIC_TOKENS,
        {"scopes": {"read": {"runs": ["run_a"], "tags": ["t:1"]}}, "expirationTime": "1h"},
        format="json",
    )
    assert response.status_code == 200, response.content
    token = response.json()["token"]
    claims = claims_of(token)
    assert claims["scopes"] == ["read:runs:run_a", "read:tags:t:1"]
    assert claims["exp"] - claims["iat"] == pytest.approx(3600, abs=1)
    assert "otu" not in claims
    assert tokens.verify(token).scopes == ("read:runs:run_a", "read:tags:t:1")
    record = AccessToken.objects.get(jti=claims["jti"])
    assert record.issued_by_key is not None


def test_issue_a_one_time_token_from_a_list_of_scopes(api):
    response = api.post(
        PUBLIC_TOKENS, {"scopes": ["trigger:tasks:test-echo"], "oneTimeUse": True}, format="json"
    )
    assert response.status_code == 200, response.content
    claims = claims_of(response.json()["token"])
    assert claims["otu"] is True
    assert claims["exp"] - claims["iat"] == pytest.approx(15 * 60, abs=1)
    assert AccessToken.objects.get(jti=claims["jti"]).one_time


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "scopes"),
        ({"scopes": []}, "scopes"),
        ({"scopes": ["read:nothing"]}, "scopes"),
        ({"scopes": ["read:runs:"]}, "scopes"),
        ({"scopes": "nonsense"}, "scopes"),
        ({"scopes": {"read": {"runs": False}}}, "scopes.read.runs"),
        ({"scopes": {"read": True}}, "scopes.read"),
        ({"scopes": ["read:all"], "expirationTime": "soon"}, "expirationTime"),
        ({"scopes": ["read:all"], "expirationTime": "90d"}, "expirationTime"),
        ({"scopes": ["read:all"], "oneTimeUse": "yes"}, "oneTimeUse"),
        ({"scopes": ["read:all"], "extra": 1}, "extra"),
        ({"scopes": ["read:tags:a\x00"]}, "scopes"),
    ],
)
def test_bad_token_requests_are_400_and_issue_nothing(api, body, field):
    body = assert_error(api.post(PUBLIC_TOKENS, body, format="json"), 400, "invalid")
    assert field in body["fields"], body
    assert not AccessToken.objects.exists()


def test_issuing_needs_a_secret_key():
    admin_token = tokens.create_token(["admin"])
    assert_error(APIClient().post(PUBLIC_TOKENS, {"scopes": ["read:all"]}, format="json"), 401)
    response = bearer(admin_token).post(PUBLIC_TOKENS, {"scopes": ["read:all"]}, format="json")
    assert response.status_code in (401, 403), response.content
    assert AccessToken.objects.count() == 1


# -- trigger tokens --------------------------------------------------------------------------


def test_trigger_token_triggers_and_its_read_token_reads_the_run():
    token = auth.create_trigger_public_token("test-echo")
    assert claims_of(token)["otu"] is True
    response = trigger(bearer(token))
    assert response.status_code == 200, response.content
    body = response.json()
    run = Run.objects.get(pk=body["id"])
    assert run.task_identifier == "test-echo" and run.payload == {"a": 1}
    read_token = body["publicAccessToken"]
    assert claims_of(read_token)["scopes"] == [f"read:runs:{run.id}"]
    fetched = bearer(read_token).get(RUN.format(run.id))
    assert fetched.status_code == 200, fetched.content
    assert fetched.json()["id"] == run.id
    assert fetched.json()["taskIdentifier"] == "test-echo"


def test_a_trigger_token_does_not_read_the_run_it_made():
    token = auth.create_trigger_public_token("test-echo", multiple_use=True)
    run_id = trigger(bearer(token)).json()["id"]
    body = assert_error(bearer(token).get(RUN.format(run_id)), 403, "forbidden")
    assert "trigger:tasks:test-echo" in body["error"]


def test_second_use_of_a_one_time_token_is_422_already_used():
    client = bearer(auth.create_trigger_public_token("test-echo"))
    assert trigger(client).status_code == 200
    before = row_counts()
    body = assert_error(trigger(client), 422)
    assert "already used" in body["error"]
    assert row_counts() == before
    assert Run.objects.count() == 1


def test_trigger_token_for_another_task_is_403_listing_its_scopes():
    token = auth.create_trigger_public_token("test-context")
    before = row_counts()
    body = assert_error(trigger(bearer(token), "test-echo"), 403, "forbidden")
    assert "trigger:tasks:test-context" in body["error"]
    assert row_counts() == before
    # A refusal does not use the token up.
    assert trigger(bearer(token), "test-context").status_code == 200


def test_a_token_for_several_tasks():
    token = auth.create_trigger_public_token(["test-echo", "test-context"], multiple_use=True)
    assert trigger(bearer(token), "test-echo").status_code == 200
    assert trigger(bearer(token), "test-context").status_code == 200
    assert_error(trigger(bearer(token), "demo-fail"), 403, "forbidden")


def test_multiple_use_token_can_be_used_twice():
    token = auth.create_trigger_public_token("test-echo", multiple_use=True)
    assert "otu" not in claims_of(token)
    first, second = trigger(bearer(token)), trigger(bearer(token))
    assert first.status_code == second.status_code == 200
    assert first.json()["id"] != second.json()["id"]
    assert Run.objects.count() == 2


@pytest.mark.parametrize(
    "body",
    [
        {"payload": 1, "options": {"tags": [f"t{i}" for i in range(11)]}},
        {"payload": 1, "options": {"delay": "whenever"}},
        {"payload": 1, "nope": True},
    ],
)
def test_failed_trigger_does_not_use_up_a_one_time_token(body):
    token = auth.create_trigger_public_token("test-echo")
    record = AccessToken.objects.filter(jti=claims_of(token)["jti"])
    client = bearer(token)
    before = row_counts()
    assert_error(client.post(TRIGGER.format("test-echo"), body, format="json"), 400, "invalid")
    assert row_counts() == before
    assert record.get().used_at is None
    assert trigger(client).status_code == 200
    assert record.get().used_at is not None


def test_unknown_task_does_not_use_up_a_one_time_token():
    client = bearer(auth.create_trigger_public_token("no-such-task"))
    assert_error(trigger(client, "no-such-task"), 404)
    assert AccessToken.objects.get().used_at is None


def test_read_scopes_do_not_trigger():
    token = tokens.create_token(["read:all"])
    assert_error(trigger(bearer(token)), 403, "forbidden")
    assert not Run.objects.exists()


@pytest.mark.parametrize("scope", ["write:tasks", "admin"])
def test_broad_scopes_trigger(scope):
    assert trigger(bearer(tokens.create_token([scope]))).status_code == 200


def test_expired_and_revoked_trigger_tokens_are_401():
    token = auth.create_trigger_public_token("test-echo")
    AccessToken.objects.update(expires_at=timezone.now() - timedelta(seconds=5))
    expired = jwt.encode(
        {**claims_of(token), "exp": int(time.time()) - 5},
        tokens.signing_key().secret,
        algorithm="HS256",
        headers={"kid": tokens.signing_key().kid},
    )
    body = assert_error(trigger(bearer(expired)), 401, "token_expired")
    assert "expired" in body["error"]
    revoked = auth.create_trigger_public_token("test-echo")
    AccessToken.objects.get(jti=claims_of(revoked)["jti"]).revoke()
    body = assert_error(trigger(bearer(revoked)), 401, "token_revoked")
    assert "revoked" in body["error"]
    assert not Run.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_uses_of_a_one_time_token_make_one_run():
    token = auth.create_trigger_public_token("test-echo")
    barrier = threading.Barrier(2)
    results = []

    def use():
        client = bearer(token)
        try:
            barrier.wait(timeout=10)
            response = trigger(client)
            results.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=use) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(status for status, _ in results) == [200, 422], results
    refused = next(body for status, body in results if status == 422)
    assert "already used" in refused["error"]
    assert Run.objects.count() == 1
    made = next(body for status, body in results if status == 200)
    assert Run.objects.get().id == made["id"]


# -- GET /api/v3/runs/{id} with read tokens --------------------------------------------------


def delayed_run(api, **options):
    response = api.post(
        TRIGGER.format("test-echo"),
        {"payload": None, "options": {"delay": "1h", **options}},
        format="json",
    )
    assert response.status_code == 200, response.content
    return Run.objects.get(pk=response.json()["id"])


def test_read_token_for_another_run_is_403_listing_scopes(api):
    run, other = delayed_run(api), delayed_run(api)
    token = tokens.create_token([f"read:runs:{other.id}"])
    body = assert_error(bearer(token).get(RUN.format(run.id)), 403, "forbidden")
    assert f"read:runs:{other.id}" in body["error"]
    assert bearer(token).get(RUN.format(other.id)).status_code == 200


@pytest.mark.parametrize(
    "scopes",
    [
        lambda run: [f"read:tags:{run.tags[1]}"],
        lambda run: [f"read:tasks:{run.task_identifier}"],
        lambda run: ["read:runs"],
        lambda run: ["read:all"],
        lambda run: ["admin"],
    ],
)
def test_read_run_passes_with_each_scope_of_the_table(api, scopes):
    run = delayed_run(api, tags=["a:b", "c"])
    response = bearer(tokens.create_token(scopes(run))).get(RUN.format(run.id))
    assert response.status_code == 200, response.content
    assert response.json()["id"] == run.id


@pytest.mark.parametrize(
    "scopes",
    [["read:tags:a"], ["read:tags:b"], ["read:tasks:test-context"], ["write:tasks"]],
)
def test_read_run_refused_with_near_miss_scopes(api, scopes):
    run = delayed_run(api, tags=["a:b", "c"])
    assert_error(bearer(tokens.create_token(scopes)).get(RUN.format(run.id)), 403, "forbidden")


def test_read_token_for_a_run_with_an_expired_token_is_401(api):
    run = delayed_run(api)
    token = tokens.create_token([f"read:runs:{run.id}"])
    key = tokens.signing_key()
    expired = jwt.encode(
        {**claims_of(token), "exp": int(time.time()) - 1},
        key.secret,
        algorithm="HS256",
        headers={"kid": key.kid},
    )
    body = assert_error(bearer(expired).get(RUN.format(run.id)), 401, "token_expired")
    assert "expired" in body["error"]


def test_read_token_that_expires_for_real_is_401(api):
    run = delayed_run(api)
    token = tokens.create_token([f"read:runs:{run.id}"], expiration_time=1)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        response = bearer(token).get(RUN.format(run.id))
        if response.status_code != 200:
            break
        time.sleep(0.05)
    assert_error(response, 401, "token_expired")


def test_tampered_read_token_is_401(api):
    run = delayed_run(api)
    token = tokens.create_token([f"read:runs:{run.id}"])
    head, body, signature = token.split(".")
    tampered = f"{head}.{body}.{signature[:-3]}{'AAA' if signature[-3:] != 'AAA' else 'BBB'}"
    assert_error(bearer(tampered).get(RUN.format(run.id)), 401, "unauthorized")


# -- batch trigger tokens --------------------------------------------------------------------


def batch(client, tasks):
    return client.post(
        BATCH,
        {"items": [{"task": t, "payload": {"i": i}} for i, t in enumerate(tasks)]},
        format="json",
    )


def test_batch_trigger_token_triggers_a_batch_and_reads_it():
    token = auth.create_batch_trigger_public_token(["test-echo", "test-context"])
    assert claims_of(token)["otu"] is True
    response = batch(bearer(token), ["test-echo", "test-context", "test-echo"])
    assert response.status_code == 200, response.content
    body = response.json()
    assert Batch.objects.filter(pk=body["id"]).exists()
    assert len(body["runs"]) == 3
    read = bearer(body["publicAccessToken"])
    assert claims_of(body["publicAccessToken"])["scopes"] == [f"read:batch:{body['id']}"]
    for run_id in body["runs"]:
        assert read.get(RUN.format(run_id)).json()["batchId"] == body["id"]
    body = assert_error(batch(bearer(token), ["test-echo"]), 422)
    assert "already used" in body["error"]


def test_batch_trigger_token_needs_every_task_of_the_batch():
    token = auth.create_batch_trigger_public_token("test-echo")
    before = row_counts()
    body = assert_error(batch(bearer(token), ["test-echo", "test-context"]), 403, "forbidden")
    assert "batchTrigger:tasks:test-echo" in body["error"]
    assert row_counts() == before
    assert AccessToken.objects.get().used_at is None


def test_a_trigger_token_does_not_batch_trigger_and_the_reverse():
    assert_error(batch(bearer(auth.create_trigger_public_token("test-echo")), ["test-echo"]), 403)
    assert_error(trigger(bearer(auth.create_batch_trigger_public_token("test-echo"))), 403)
    assert not Run.objects.exists()


def test_failed_batch_does_not_use_up_the_token():
    client = bearer(auth.create_batch_trigger_public_token("test-echo"))
    bad = {"items": [{"task": "test-echo", "options": {"tags": [f"t{i}" for i in range(11)]}}]}
    assert_error(client.post(BATCH, bad, format="json"), 400, "invalid")
    assert not Run.objects.exists()
    assert batch(client, ["test-echo"]).status_code == 200


def test_multiple_use_batch_trigger_token():
    client = bearer(auth.create_batch_trigger_public_token("test-echo", multiple_use=True))
    assert batch(client, ["test-echo"]).status_code == 200
    assert batch(client, ["test-echo", "test-echo"]).status_code == 200
    assert Run.objects.count() == 3
