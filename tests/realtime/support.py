"""Helpers for the websocket tests: runs that stay put, tokens, and reading frames."""

import time

import jwt
from asgiref.sync import sync_to_async
from rest_framework.test import APIClient

from realtime_runs import engine, tokens
from realtime_runs.engine.changes import update_run
from realtime_runs.models import AccessToken, Run, StreamChunk

# Runs triggered with a delay of an hour stay DELAYED: no worker (inline or Celery) touches them,
# so every change the tests see is one they made.
PARKED = "1h"


def _parked_run(task="test-echo", tags=(), payload=None):
    options = {"delay": PARKED}
    if tags:
        options["tags"] = list(tags)
    return engine.trigger(task, payload, options).run.id


def _parked_batch(count=2, task="test-echo", tags=()):
    options = {"delay": PARKED, **({"tags": list(tags)} if tags else {})}
    batch, results = engine.batch_trigger(
        [{"task": task, "payload": {"i": i}, "options": options} for i in range(count)]
    )
    return batch.id, [r.run.id for r in results]


def _token(scopes, **kwargs):
    return tokens.create_token(scopes, **kwargs)


def _expired_token(scopes):
    """A recorded token whose ``exp`` has passed."""
    token = tokens.create_token(scopes)
    claims = jwt.decode(token, options={"verify_signature": False})
    key = tokens.signing_key()
    claims["exp"] = int(time.time()) - 1
    return jwt.encode(claims, key.secret, algorithm="HS256", headers={"kid": key.kid})


def _jti(token):
    return jwt.decode(token, options={"verify_signature": False})["jti"]


def _revoke(token):
    AccessToken.objects.get(jti=_jti(token)).revoke()


def _touch(run_id, **metadata):
    """A change to a run: new metadata, version +1, announced after commit."""
    assert update_run(run_id, metadata=metadata)


def _fetch(run_id, token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.get(f"/api/v3/runs/{run_id}")
    assert response.status_code == 200, response.content
    return response.json()


def _chunk_count(run_id, key="tokens"):
    return StreamChunk.objects.filter(run_id=run_id, key=key).count()


def _run(run_id):
    return Run.objects.get(pk=run_id)


parked_run = sync_to_async(_parked_run)
parked_batch = sync_to_async(_parked_batch)
token = sync_to_async(_token)
expired_token = sync_to_async(_expired_token)
revoke = sync_to_async(_revoke)
touch = sync_to_async(_touch)
fetch = sync_to_async(_fetch)
chunk_count = sync_to_async(_chunk_count)
get_run = sync_to_async(_run)
trigger = sync_to_async(
    lambda task, payload=None, **options: engine.trigger(task, payload, options)
)
cancel = sync_to_async(engine.cancel)


async def wait_until(predicate, timeout=15.0, message="condition"):
    """Poll an async ``predicate`` (for database state the test cannot receive as a frame)."""
    import asyncio

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def runs_of(frames, sub_id=None):
    return [f["run"] for f in frames if f["type"] == "run" and sub_id in (None, f["id"])]


def chunks_of(frames, sub_id=None):
    return [f for f in frames if f["type"] == "stream" and sub_id in (None, f["id"])]


def is_(kind, sub_id=None, **fields):
    """A predicate for ``receive_until``: a frame of this type (and id, and run fields)."""

    def check(frame):
        if frame["type"] != kind or (sub_id is not None and frame.get("id") != sub_id):
            return False
        run = frame.get("run", {})
        return all(run.get(k) == v for k, v in fields.items())

    return check


def apply(copy, frame):
    """The client rule of CONTRACT.md §4: keep a run only if its version is newer."""
    run = frame["run"]
    held = copy.get(run["id"])
    if held is None or run["version"] > held["version"]:
        copy[run["id"]] = run
        return True
    return False
