"""The scope table of CONTRACT.md §2 over the websocket: each allowed and each refused case."""

import pytest

from tests.realtime import support as s

pytestmark = pytest.mark.django_db(transaction=True)

TAGS = ["user:1", "team-a"]


@pytest.fixture
async def target():
    """A parked run with two tags, in a batch, of the task test-echo."""
    batch_id, run_ids = await s.parked_batch(2, tags=TAGS)
    return {"run": run_ids[0], "runs": set(run_ids), "batch": batch_id, "task": "test-echo"}


async def expect_subscribed(ws, sub_id, run_ids):
    """``subscribed``, then one run frame for each of ``run_ids``, and nothing else."""
    run_ids = {run_ids} if isinstance(run_ids, str) else set(run_ids)
    seen = []
    frames = [await ws.receive()]
    assert frames[0] == {"type": "subscribed", "id": sub_id}, (sub_id, frames)
    while set(seen) != run_ids:
        frame = await ws.receive()
        frames.append(frame)
        assert frame["type"] == "run" and frame["id"] == sub_id, frames
        seen.append(frame["run"]["id"])
    assert sorted(seen) == sorted(run_ids), frames


async def expect_forbidden(ws, sub_id, scopes):
    frame = await ws.receive()
    assert frame["type"] == "error" and frame["id"] == sub_id, (scopes, frame)
    assert frame["code"] == "forbidden", frame
    for scope in scopes:
        assert scope in frame["message"], frame


def read_run_allowed(t):
    return [
        [f"read:runs:{t['run']}"],
        [f"read:tags:{TAGS[0]}"],
        [f"read:tags:{TAGS[1]}"],
        [f"read:batch:{t['batch']}"],
        [f"read:tasks:{t['task']}"],
        ["read:runs"],
        ["read:all"],
        ["admin"],
    ]


def read_run_refused(t):
    return [
        ["read:runs:run_other"],
        ["read:tags:user"],  # a prefix of the tag "user:1"
        ["read:tags:user:2"],
        ["read:batch:batch_other"],
        ["read:tasks:test-context"],
        ["write:tasks"],
        [f"trigger:tasks:{t['task']}"],
        ["write:waitpoints"],
        ["read:runs:run_other", "read:tags:nope"],
    ]


async def test_run_subscription_scopes(socket, target):
    async with socket() as ws:
        for index, scopes in enumerate(read_run_allowed(target)):
            sub_id = f"ok{index}"
            token = await s.token(scopes)
            await ws.send(type="subscribe", id=sub_id, token=token, run=target["run"])
            await expect_subscribed(ws, sub_id, target["run"])
        for index, scopes in enumerate(read_run_refused(target)):
            sub_id = f"no{index}"
            await ws.send(
                type="subscribe", id=sub_id, token=await s.token(scopes), run=target["run"]
            )
            await expect_forbidden(ws, sub_id, scopes)


async def test_tag_feed_scopes(socket, target):
    allowed = [
        [f"read:tags:{TAGS[0]}"],
        [f"read:tags:{TAGS[1]}"],  # one of the requested tags is enough
        ["read:runs"],
        ["read:all"],
        ["admin"],
    ]
    refused = [
        ["read:tags:user"],
        ["read:tags:other"],
        [f"read:runs:{target['run']}"],
        [f"read:batch:{target['batch']}"],
        [f"read:tasks:{target['task']}"],
        ["write:tasks"],
    ]
    async with socket() as ws:
        for index, scopes in enumerate(allowed):
            sub_id = f"ok{index}"
            await ws.send(type="subscribe", id=sub_id, token=await s.token(scopes), tags=TAGS)
            await expect_subscribed(ws, sub_id, target["runs"])
        for index, scopes in enumerate(refused):
            sub_id = f"no{index}"
            await ws.send(type="subscribe", id=sub_id, token=await s.token(scopes), tags=TAGS)
            await expect_forbidden(ws, sub_id, scopes)


async def test_batch_feed_scopes(socket, target):
    allowed = [[f"read:batch:{target['batch']}"], ["read:runs"], ["read:all"], ["admin"]]
    refused = [
        ["read:batch:batch_other"],
        [f"read:runs:{target['run']}"],
        [f"read:tags:{TAGS[0]}"],
        [f"read:tasks:{target['task']}"],
        ["write:tasks"],
    ]
    async with socket() as ws:
        for index, scopes in enumerate(allowed):
            sub_id = f"ok{index}"
            token = await s.token(scopes)
            await ws.send(type="subscribe", id=sub_id, token=token, batch=target["batch"])
            await expect_subscribed(ws, sub_id, target["runs"])
        for index, scopes in enumerate(refused):
            sub_id = f"no{index}"
            token = await s.token(scopes)
            await ws.send(type="subscribe", id=sub_id, token=token, batch=target["batch"])
            await expect_forbidden(ws, sub_id, scopes)


async def test_a_refused_subscription_gets_nothing_later(socket, target):
    """A forbidden subscribe joins no feed: a later change of the run is not sent to it."""
    other = await s.parked_run()
    async with socket() as ws:
        await ws.send(
            type="subscribe", id="no", token=await s.token(["read:tags:x"]), run=target["run"]
        )
        await expect_forbidden(ws, "no", ["read:tags:x"])
        await ws.send(type="subscribe", id="ok", token=await s.token(["read:all"]), run=other)
        await expect_subscribed(ws, "ok", other)
        await s.touch(target["run"], step=1)
        await s.touch(other, step=1)
        frame = await ws.receive()
        assert frame["id"] == "ok" and frame["run"]["metadata"] == {"step": 1}, frame


async def expect_refusal(ws, sub_id, code):
    frame = await ws.receive()
    assert frame["type"] == "error" and frame["id"] == sub_id, frame
    assert frame["code"] == code, frame
    return frame


async def test_missing_expired_bad_revoked_and_retired_tokens(socket, target):
    from asgiref.sync import sync_to_async

    from realtime_runs import tokens

    expired = await s.expired_token(["read:all"])
    revoked = await s.token(["read:all"])
    await s.revoke(revoked)
    old_key = await s.token(["read:all"])
    kid = await sync_to_async(lambda: tokens.signing_key().kid)()
    await sync_to_async(tokens.rotate_key)()
    async with socket() as ws:
        # no token, not staff: unauthorized, for every kind of subscription
        for sub_id, kind in [("r", "run"), ("t", "tags"), ("b", "batch")]:
            await ws.send(
                type="subscribe", id=sub_id, **{kind: target[kind] if kind != "tags" else TAGS}
            )
            frame = await expect_refusal(ws, sub_id, "unauthorized")
            assert "token" in frame["message"]
        await ws.send(type="subscribe", id="e", token=expired, run=target["run"])
        frame = await expect_refusal(ws, "e", "token_expired")
        assert "expired" in frame["message"]
        for index, bad in enumerate(["nonsense", "a.b.c", "rr_sk_abc", ""]):
            await ws.send(type="subscribe", id=f"bad{index}", token=bad, run=target["run"])
            await expect_refusal(ws, f"bad{index}", "unauthorized")
        await ws.send(type="subscribe", id="rev", token=revoked, run=target["run"])
        frame = await expect_refusal(ws, "rev", "unauthorized")
        assert "revoked" in frame["message"]
        # signed by a key that was rotated out: fine until the key is retired
        await ws.send(type="subscribe", id="old", token=old_key, run=target["run"])
        await expect_subscribed(ws, "old", target["run"])
        await sync_to_async(tokens.retire_key)(kid)
        await ws.send(type="subscribe", id="again", token=old_key, run=target["run"])
        await expect_refusal(ws, "again", "unauthorized")
