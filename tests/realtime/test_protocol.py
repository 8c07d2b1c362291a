"""The websocket protocol's envelope (CONTRACT.md §4): bad messages, floods, sessions, expiry."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from realtime_runs.realtime.subscriptions import MAX_MESSAGE_BYTES, FloodGate
from tests.realtime import support as s

# The envelope tests need no database; the others change runs the consumer reads from its own
# threads, so they need committed data.
tx = pytest.mark.django_db(transaction=True)


async def expect_error(ws, code, sub_id=None):
    frame = await ws.receive()
    assert frame["type"] == "error", frame
    assert frame["code"] == code, frame
    assert isinstance(frame["message"], str) and frame["message"], frame
    assert frame.get("id") == sub_id, frame
    return frame


async def expect_pong(ws):
    await ws.send(type="ping")
    assert await ws.receive() == {"type": "pong"}


async def test_ping_pong(socket):
    async with socket() as ws:
        await expect_pong(ws)
        await expect_pong(ws)


MALFORMED = ["{", "not json", "{'type': 'ping'}", " ", '{"type":"ping"', "\ufeff{}"]
NOT_OBJECTS = ["[]", '["ping"]', '"ping"', "5", "null", "true"]


async def test_malformed_json_is_invalid_and_the_socket_stays_usable(socket):
    async with socket() as ws:
        for text in MALFORMED + NOT_OBJECTS:
            await ws.send_text(text)
            frame = await expect_error(ws, "invalid")
            assert "JSON" in frame["message"], (text, frame)
            await expect_pong(ws)


async def test_binary_frames_are_invalid(socket):
    async with socket() as ws:
        await ws.communicator.send_to(bytes_data=b'{"type":"ping"}')
        await expect_error(ws, "invalid")
        await expect_pong(ws)


async def test_unknown_type_is_invalid(socket):
    cases = [
        ({"type": "bogus"}, None),
        ({"type": "bogus", "id": "s1"}, "s1"),
        ({"id": "s1"}, "s1"),
        ({"type": 5}, None),
        ({"type": "PING"}, None),
        ({"type": "pong"}, None),
    ]
    async with socket() as ws:
        for message, sub_id in cases:
            await ws.send(**message)
            frame = await expect_error(ws, "invalid", sub_id)
            assert "subscribe" in frame["message"], frame
            await expect_pong(ws)


def padded_ping(size, char="x"):
    """A ping of exactly ``size`` bytes (UTF-8)."""
    base = '{"type":"ping","pad":""}'
    room = size - len(base.encode())
    pad = char * (room // len(char.encode()))
    text = base[:-2] + pad + base[-2:]
    assert len(text.encode()) == size
    return text


async def test_messages_over_64_kib_are_invalid(socket):
    async with socket() as ws:
        await ws.send_text(padded_ping(MAX_MESSAGE_BYTES))
        assert await ws.receive() == {"type": "pong"}
        await ws.send_text(padded_ping(MAX_MESSAGE_BYTES + 1))
        frame = await expect_error(ws, "invalid")
        assert "bytes" in frame["message"]
        # fewer than 64 Ki characters, more than 64 KiB of UTF-8: still too big
        await ws.send_text(padded_ping(MAX_MESSAGE_BYTES + 2, "é"))
        await expect_error(ws, "invalid")
        await ws.send_text(padded_ping(10 * MAX_MESSAGE_BYTES))
        await expect_error(ws, "invalid")
        await expect_pong(ws)


async def test_a_flood_is_rate_limited_and_the_socket_recovers(socket):
    count = 400
    async with socket() as flooder, socket() as bystander:
        for _ in range(count):
            await flooder.send(type="ping")
        frames = [await flooder.receive() for _ in range(count)]
        limited = [f for f in frames if f["type"] == "error"]
        pongs = [f for f in frames if f == {"type": "pong"}]
        assert len(limited) + len(pongs) == count
        assert limited and all(f["code"] == "rate_limited" for f in limited), frames[-3:]
        assert len(pongs) >= 50  # a burst is allowed
        # Another socket is not harmed, even right after the flood.
        await expect_pong(bystander)
        # The flooding socket works again once it slows down: ping until one is answered.
        for _ in range(50):
            await flooder.send(type="ping")
            frame = await flooder.receive()
            if frame == {"type": "pong"}:
                break
            assert frame["code"] == "rate_limited"
            await asyncio.sleep(0.1)  # slowing down is what the client is asked to do
        else:
            raise AssertionError("the socket never recovered from the flood")
        await flooder.nothing(0.05)


def test_flood_gate_allows_a_burst_then_the_rate():
    now = [0.0]
    gate = FloodGate(rate=20.0, burst=60, clock=lambda: now[0])
    assert sum(gate.allow() for _ in range(100)) == 60
    now[0] += 0.5  # half a second: 10 more
    assert sum(gate.allow() for _ in range(100)) == 10
    now[0] += 3600  # a quiet hour refills the burst, no more
    assert sum(gate.allow() for _ in range(100)) == 60


@tx
async def test_unknown_run_and_batch_are_not_found_and_ids_are_unique(socket):
    first, second = await s.parked_run(), await s.parked_run()
    token = await s.token(["read:all"])
    async with socket() as ws:
        await ws.send(type="subscribe", id="r", token=token, run="run_doesnotexist")
        await expect_error(ws, "not_found", "r")
        await ws.send(type="subscribe", id="b", token=token, batch="batch_doesnotexist")
        await expect_error(ws, "not_found", "b")
        # a duplicate id is invalid, and the first subscription goes on
        await ws.send(type="subscribe", id="s1", token=token, run=first)
        frames = await ws.receive_until(s.is_("run", "s1"))
        assert frames[0] == {"type": "subscribed", "id": "s1"}
        await ws.send(type="subscribe", id="s1", token=token, run=second)
        frame = await expect_error(ws, "invalid", "s1")
        assert "in use" in frame["message"]
        await s.touch(second, n=1)
        await s.touch(first, n=1)
        frame = await ws.receive()
        assert frame["id"] == "s1" and frame["run"]["id"] == first, frame


BAD_SUBSCRIBES = [
    ({}, None),
    ({"id": ""}, None),
    ({"id": "x" * 65}, None),
    ({"id": 5}, None),
    ({"id": "s1"}, "s1"),  # no target
    ({"id": "s1", "run": "RUN", "batch": "batch_x"}, "s1"),
    ({"id": "s1", "run": "RUN", "extra": 1}, "s1"),
    ({"id": "s1", "run": ""}, "s1"),
    ({"id": "s1", "run": ["RUN"]}, "s1"),
    ({"id": "s1", "run": "RUN", "token": 5}, "s1"),
    ({"id": "s1", "run": "RUN", "streams": "yes"}, "s1"),
    ({"id": "s1", "run": "RUN", "since": 3}, "s1"),
    ({"id": "s1", "run": "RUN", "since": {"version": -1}}, "s1"),
    ({"id": "s1", "run": "RUN", "since": {"version": "3"}}, "s1"),
    ({"id": "s1", "run": "RUN", "since": {"version": True}}, "s1"),
    ({"id": "s1", "run": "RUN", "since": {"streams": {"tokens": "4"}}}, "s1"),
    ({"id": "s1", "run": "RUN", "since": {"streams": [1]}}, "s1"),
    ({"id": "s1", "run": "RUN", "skipColumns": ["id"]}, "s1"),
    ({"id": "s1", "run": "RUN", "skipColumns": "payload"}, "s1"),
    ({"id": "s1", "run": "RUN", "stopOnCompletion": "no"}, "s1"),
    ({"id": "s1", "run": "RUN", "status": ["QUEUED"]}, "s1"),
    ({"id": "s1", "run": "RUN", "createdAt": "1h"}, "s1"),
    ({"id": "s1", "tags": []}, "s1"),
    ({"id": "s1", "tags": [""]}, "s1"),
    ({"id": "s1", "tags": [1]}, "s1"),
    ({"id": "s1", "tags": [f"t{i}" for i in range(11)]}, "s1"),
    ({"id": "s1", "tags": ["t"], "status": ["RUNNING"]}, "s1"),
    ({"id": "s1", "tags": ["t"], "status": [5]}, "s1"),
    ({"id": "s1", "tags": ["t"], "createdAt": "31d"}, "s1"),
    ({"id": "s1", "tags": ["t"], "createdAt": "0s"}, "s1"),
    ({"id": "s1", "tags": ["t"], "createdAt": "whenever"}, "s1"),
    ({"id": "s1", "batch": 5}, "s1"),
]


@tx
async def test_bad_subscribes_are_invalid(socket):
    run_id = await s.parked_run()
    token = await s.token(["read:all"])
    async with socket() as ws:
        for fields, sub_id in BAD_SUBSCRIBES:
            fields = {k: (run_id if v == "RUN" else v) for k, v in fields.items()}
            await ws.send(**{"type": "subscribe", "token": token, **fields})
            frame = await ws.receive()
            assert frame["type"] == "error" and frame["code"] == "invalid", (fields, frame)
            assert frame.get("id") == sub_id, (fields, frame)
        await expect_pong(ws)
        # nothing was subscribed: the id is free
        await ws.send(type="subscribe", id="s1", token=token, run=run_id)
        assert await ws.receive() == {"type": "subscribed", "id": "s1"}


@tx
async def test_valid_edge_subscribes_and_skip_columns(socket):
    run_id = await s.parked_run(tags=["t"], payload={"secret": 1})
    token = await s.token(["read:all"])
    async with socket() as ws:
        await ws.send(type="subscribe", id="x" * 64, token=token, run=run_id)
        assert await ws.receive() == {"type": "subscribed", "id": "x" * 64}
        await ws.send(type="subscribe", id="t", token=token, tags="t", createdAt="30d")
        frames = await ws.receive_until(s.is_("run", "t"))
        assert frames[-1]["run"]["id"] == run_id
        await ws.send(type="subscribe", id="n", token=token, tags=["t"], createdAt=3600)
        frames = await ws.receive_until(s.is_("run", "n"))
        assert frames[-1]["run"]["id"] == run_id
        await ws.send(
            type="subscribe", id="skip", token=token, run=run_id, skipColumns=["payload", "output"]
        )
        snapshot = (await ws.receive_until(s.is_("run", "skip")))[-1]["run"]
        assert "payload" not in snapshot and "output" not in snapshot
        assert snapshot["id"] == run_id and "metadata" in snapshot
        for sub_id in ("x" * 64, "t", "n"):
            await ws.send(type="unsubscribe", id=sub_id)
        await s.touch(run_id, a=1)
        live = (await ws.receive_until(s.is_("run", "skip")))[-1]["run"]
        assert "payload" not in live and "output" not in live and live["metadata"] == {"a": 1}


@tx
async def test_unsubscribe_stops_delivery(socket):
    watched, other = await s.parked_run(), await s.parked_run()
    token = await s.token(["read:all"])
    async with socket() as ws:
        await ws.send(type="subscribe", id="s1", token=token, run=watched)
        await ws.receive_until(s.is_("run", "s1"))
        await ws.send(type="subscribe", id="s2", token=token, run=other)
        await ws.receive_until(s.is_("run", "s2"))
        await s.touch(watched, step=1)
        frame = await ws.receive()
        assert frame["id"] == "s1" and frame["run"]["metadata"] == {"step": 1}
        await ws.send(type="unsubscribe", id="s1")
        await expect_pong(ws)  # the unsubscribe was handled: messages are handled in order
        await s.touch(watched, step=2)
        await s.touch(other, step=2)
        # Changes are published in order: had s1 still been live, its frame would come first.
        frame = await ws.receive()
        assert frame["id"] == "s2" and frame["run"]["id"] == other, frame
        await ws.send(type="unsubscribe", id="s1")
        await expect_error(ws, "not_found", "s1")
        for message in [{}, {"id": 5}, {"id": None}]:
            await ws.send(type="unsubscribe", **message)
            frame = await expect_error(ws, "invalid")
            assert "id" in frame["message"]
        # the id can be used again
        await ws.send(type="subscribe", id="s1", token=token, run=watched)
        frames = await ws.receive_until(s.is_("run", "s1"))
        assert frames[-1]["run"]["metadata"] == {"step": 2}
        # of two subscriptions to one run, unsubscribing one keeps the other
        await ws.send(type="subscribe", id="s3", token=token, run=watched)
        await ws.receive_until(s.is_("run", "s3"))
        await ws.send(type="unsubscribe", id="s1")
        await expect_pong(ws)
        await s.touch(watched, step=3)
        frame = await ws.receive()
        assert frame["id"] == "s3" and frame["run"]["metadata"] == {"step": 3}, frame
        await s.touch(other, step=3)
        frame = await ws.receive()
        assert frame["id"] == "s2", frame


@tx
async def test_many_subscriptions_on_one_socket(socket):
    run_ids = [await s.parked_run() for _ in range(3)]
    token = await s.token(["read:all"])
    async with socket() as ws:
        for index, run_id in enumerate(run_ids):
            await ws.send(type="subscribe", id=f"s{index}", token=token, run=run_id)
            await ws.receive_until(s.is_("run", f"s{index}"))
        for run_id in reversed(run_ids):
            await s.touch(run_id, hit=True)
        frames = [await ws.receive() for _ in run_ids]
        assert [(f["id"], f["run"]["id"]) for f in frames] == [
            (f"s{i}", run_ids[i]) for i in (2, 1, 0)
        ]


# -- expiry and revocation during a subscription ---------------------------------------------


@tx
async def test_token_that_expires_during_a_subscription_ends_it(socket):
    run_id = await s.parked_run()
    short = await s.token([f"read:runs:{run_id}"], expiration_time=2)
    long = await s.token([f"read:runs:{run_id}"])
    async with socket() as ws:
        await ws.send(type="subscribe", id="s1", token=short, run=run_id)
        frames = await ws.receive_until(s.is_("run", "s1"))
        version = frames[-1]["run"]["version"]
        await ws.send(type="subscribe", id="long", token=long, run=run_id)
        await ws.receive_until(s.is_("run", "long"))
        frame = await ws.receive(timeout=6)
        assert frame["type"] == "error" and frame["id"] == "s1", frame
        assert frame["code"] == "token_expired"
        # Only that token's subscription ended: a change goes to the other one alone.
        await s.touch(run_id, after=True)
        frame = await ws.receive()
        assert frame["id"] == "long" and frame["run"]["metadata"] == {"after": True}, frame
        # The client subscribes again with a fresh token and since, and loses nothing.
        fresh = await s.token([f"read:runs:{run_id}"])
        await ws.send(
            type="subscribe", id="s1", token=fresh, run=run_id, since={"version": version}
        )
        frames = await ws.receive_until(s.is_("run", "s1"))
        assert frames[0] == {"type": "subscribed", "id": "s1"}
        assert [run["metadata"] for run in s.runs_of(frames)] == [{"after": True}]
        # and the expired token itself is refused now
        await ws.send(type="subscribe", id="s2", token=short, run=run_id)
        await expect_error(ws, "token_expired", "s2")


@tx
async def test_revoked_token_ends_its_subscriptions(socket, settings):
    from realtime_runs.models import AccessToken

    run_id = await s.parked_run(tags=["t"])
    token = await s.token(["read:all"])
    other = await s.token(["read:all"])
    async with socket() as ws:
        await ws.send(type="subscribe", id="a", token=token, run=run_id)
        await ws.receive_until(s.is_("run", "a"))
        await ws.send(type="subscribe", id="b", token=token, tags=["t"])
        await ws.receive_until(s.is_("run", "b"))
        await ws.send(type="subscribe", id="c", token=other, run=run_id)
        await ws.receive_until(s.is_("run", "c"))
        await s.revoke(token)
        # announced: sooner than the periodic recheck (every 5 seconds) could notice it
        ended = [await ws.receive(timeout=3) for _ in range(2)]
        assert {f["id"] for f in ended} == {"a", "b"}
        for frame in ended:
            assert frame["type"] == "error" and frame["code"] == "unauthorized", frame
            assert "revoked" in frame["message"]
        await s.touch(run_id, n=1)
        frame = await ws.receive()
        assert frame["id"] == "c" and frame["run"]["metadata"] == {"n": 1}
        await ws.nothing(0.2)

    # The layer is at-most-once: a session also rechecks the table, so a revocation whose
    # announcement was lost still ends the subscription.
    settings.REALTIME_RUNS = {**django_settings.REALTIME_RUNS, "REVOCATION_CHECK_INTERVAL": 0.2}
    async with socket() as ws:
        await ws.send(type="subscribe", id="a", token=other, run=run_id)
        await ws.receive_until(s.is_("run", "a"))
        unannounced = AccessToken.objects.filter(jti=s._jti(other))
        await sync_to_async(unannounced.update)(revoked_at=timezone.now())
        frame = await ws.receive(timeout=5)
        assert (frame["type"], frame["id"], frame["code"]) == ("error", "a", "unauthorized")


# -- staff sessions --------------------------------------------------------------------------


def _session_cookie(is_staff=True):
    user = get_user_model().objects.create_user(
        f"user{get_user_model().objects.count()}", password="x", is_staff=is_staff
    )
    client = Client()
    client.force_login(user)
    return client.cookies[django_settings.SESSION_COOKIE_NAME].value


session_cookie = sync_to_async(_session_cookie)


def headers(cookie, origin=None):
    out = [(b"cookie", f"{django_settings.SESSION_COOKIE_NAME}={cookie}".encode())]
    if origin is not None:
        out.append((b"origin", origin.encode()))
    return out


SAME_SITE = [
    None,
    "http://localhost:8000",
    "http://127.0.0.1",
    "https://LOCALHOST",
    "http://[::1]:8000",
]
FOREIGN = [
    "http://evil.example",
    "https://localhost.evil.example",
    "http://localhost@evil.example",
    "null",
    "file://",
    "http://[::1",  # not even a URL
    "http://[::2]:8000",
]


@tx
async def test_staff_session_subscribes_without_a_token_from_our_origin_only(socket):
    run_id = await s.parked_run(tags=["t"])
    batch_id, _ = await s.parked_batch(1)
    cookie = await session_cookie()
    token = await s.token(["read:all"])
    for origin in SAME_SITE:
        async with socket(headers(cookie, origin)) as ws:
            await ws.send(type="subscribe", id="r", run=run_id)
            frames = await ws.receive_until(lambda f: f.get("id") == "r")
            assert frames[0] == {"type": "subscribed", "id": "r"}, (origin, frames)
            await ws.receive_until(s.is_("run", "r"))
            await ws.send(type="subscribe", id="t", tags=["t"])
            assert (await ws.receive_until(s.is_("run", "t")))[-1]["run"]["id"] == run_id
            await ws.send(type="subscribe", id="b", batch=batch_id)
            await ws.receive_until(s.is_("run", "b"))
    for origin in FOREIGN:
        async with socket(headers(cookie, origin)) as ws:
            await ws.send(type="subscribe", id="r", run=run_id)
            frame = await ws.receive()
            assert (frame["type"], frame.get("code")) == ("error", "unauthorized"), (origin, frame)
            # a token still works from anywhere
            await ws.send(type="subscribe", id="r", run=run_id, token=token)
            assert await ws.receive() == {"type": "subscribed", "id": "r"}
    # a signed-in user who is not staff, and a cookie that is no session, need a token
    for cookie in [await session_cookie(is_staff=False), "not-a-session"]:
        async with socket(headers(cookie, "http://localhost")) as ws:
            await ws.send(type="subscribe", id="r", run=run_id)
            await expect_error(ws, "unauthorized", "r")
