import pytest
from asgiref.sync import sync_to_async

from realtime_runs.models import RunStatus
from realtime_runs.sdk import runs, tasks
from realtime_runs.sdk.subscriptions import SubscriptionError

pytestmark = pytest.mark.django_db(transaction=True)


def test_subscribe_to_run_follows_demo_stream_with_every_word(worker):
    text = "one two three four five six"
    handle = tasks.trigger("demo-stream", {"text": text, "delay": 0.01})
    words, runs_seen = [], []
    for part in runs.subscribe_to_run(handle.id).with_streams():
        if part.type == "run":
            runs_seen.append(part.run)
        else:
            assert part.type == "tokens"
            words.append(part.chunk)
    assert words == text.split()
    assert runs_seen[-1].status == RunStatus.COMPLETED
    assert runs_seen[-1].output == {"text": text}
    versions = [run.version for run in runs_seen]
    assert versions == sorted(set(versions))


def test_subscribe_to_run_ends_by_itself_on_a_final_status(worker):
    handle = tasks.trigger("demo-progress", {"steps": 3, "delay": 0.01})
    seen = list(runs.subscribe_to_run(handle.id))
    assert seen[-1].is_finished and seen[-1].metadata["progress"] == 100
    assert all(not run.is_finished for run in seen[:-1])


async def test_async_for_works_on_the_same_call(worker):
    import asyncio

    handle = await sync_to_async(tasks.trigger)("demo-progress", {"steps": 2, "delay": 0.01})

    async def follow():
        return [run.status async for run in runs.subscribe_to_run(handle.id)]

    statuses = await asyncio.wait_for(follow(), 20)
    assert statuses[-1] == RunStatus.COMPLETED


async def test_tag_feed_sees_runs_created_after_it_subscribed(worker):
    seen = []

    async def follow():
        async for run in runs.subscribe_to_runs_with_tag("user-sdk"):
            seen.append(run)
            if run.status == RunStatus.COMPLETED:
                return run

    import asyncio

    follower = asyncio.create_task(follow())
    await asyncio.sleep(0.2)  # let it subscribe before the run exists
    handle = await sync_to_async(tasks.trigger)("test-echo", {"x": 1}, tags=["user-sdk"])
    done = await asyncio.wait_for(follower, 15)
    assert done.id == handle.id and done.output == {"x": 1}


def test_unknown_run_raises_not_found(db):
    with pytest.raises(SubscriptionError) as info:
        list(runs.subscribe_to_run("run_doesnotexist"))
    assert info.value.code == "not_found" and info.value.status == 404
