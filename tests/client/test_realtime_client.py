"""RealtimeClient against a real Daphne process, over HTTP and the websocket."""

import threading
import time

import pytest

from realtime_runs.client import ApiError


def test_following_demo_stream_to_the_end_with_every_word(client):
    text = "the quick brown fox jumps over the lazy dog"
    handle = client.tasks.trigger("demo-stream", {"text": text, "delay": 0.02}, tags=["c-1"])
    words, runs = [], []
    for part in client.runs.subscribe_to_run(handle.id).with_streams():
        if part.type == "run":
            runs.append(part.run)
        else:
            words.append((part.seq, part.chunk))
    assert [w for _, w in words] == text.split()
    assert [s for s, _ in words] == list(range(1, len(text.split()) + 1))
    assert runs[-1].status == "COMPLETED" and runs[-1].output == {"text": text}
    versions = [r.version for r in runs]
    assert versions == sorted(set(versions))
    assert client.runs.retrieve(handle.id).to_dict() == runs[-1].to_dict()


def test_a_tag_feed_sees_runs_created_after_it_subscribed(client):
    first = client.tasks.trigger("test-echo", {"n": 1}, tags=["feed-x"])
    seen, second = [], {}

    def follow():
        for run in client.runs.subscribe_to_runs_with_tag("feed-x"):
            seen.append(run)
            if run.id == first.id and "handle" not in second:
                # Subscribed and caught up: now make a run the feed can only learn of live.
                second["handle"] = client.tasks.trigger("test-echo", {"n": 2}, tags=["feed-x"])
            if second and run.id == second["handle"].id and run.status == "COMPLETED":
                return

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    follower.join(30)
    assert not follower.is_alive(), f"saw only {seen}"
    assert {r.id for r in seen} == {first.id, second["handle"].id}


def test_list_cancel_replay_and_errors(client):
    handle = client.tasks.trigger("test-sleep", {"seconds": 30}, tags=["c-2"])
    assert client.runs.cancel(handle.id) == handle.id
    assert client.runs.retrieve(handle.id).status == "CANCELED"
    again = client.runs.replay(handle.id)
    assert client.runs.retrieve(again).tags == ["c-2"]
    client.runs.cancel(again)
    listed = [run.id for run in client.runs.list(tag="c-2", page_size=1)]
    assert listed == [again, handle.id]  # newest first, across pages
    with pytest.raises(ApiError) as info:
        client.runs.retrieve("run_nope")
    assert info.value.status == 404 and info.value.code == "run_not_found"
    with pytest.raises(ApiError) as info:
        client.tasks.trigger("no-such-task")
    assert info.value.status == 404


def test_a_trigger_token_from_the_client_works_once(client, daphne):
    import httpx

    token = client.auth.create_trigger_public_token("test-echo")
    url = f"{daphne.url}/api/v1/tasks/test-echo/trigger"
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.post(url, json={"payload": 1}, headers=headers).status_code == 200
    second = httpx.post(url, json={"payload": 2}, headers=headers)
    assert second.status_code == 422 and "already used" in second.json()["error"]


async def test_async_for_works_on_the_same_call(client):
    import asyncio

    handle = await asyncio.to_thread(
        client.tasks.trigger, "demo-progress", {"steps": 3, "delay": 0.01}
    )
    started = time.monotonic()
    statuses = [run.status async for run in client.runs.subscribe_to_run(handle.id)]
    assert statuses[-1] == "COMPLETED"
    assert time.monotonic() - started < 20
