"""What subscriptions deliver (CONTRACT.md §4 rules 1 and 4): runs, tag feeds, batch feeds."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from realtime_runs.models import FINAL_STATUSES, Run, RunStatus
from tests.realtime import support as s

pytestmark = pytest.mark.django_db(transaction=True)

LIFECYCLE = ["DELAYED", "QUEUED", "DEQUEUED", "EXECUTING", "WAITING", "COMPLETED"]


def assert_one_run_in_order(runs):
    """Strictly increasing versions, statuses along the lifecycle, nothing after final."""
    versions = [r["version"] for r in runs]
    assert versions == sorted(set(versions)), versions
    ranks = [LIFECYCLE.index(r["status"]) if r["status"] in LIFECYCLE else 99 for r in runs]
    statuses = [r["status"] for r in runs]
    assert ranks == sorted(ranks) or "WAITING" in statuses, statuses
    finals = [i for i, r in enumerate(runs) if r["status"] in FINAL_STATUSES]
    assert finals in ([], [len(runs) - 1]), statuses


# -- run subscriptions -----------------------------------------------------------------------


async def test_runs_are_followed_to_the_end_in_order(worker, socket):
    parked = await s.parked_run("demo-progress", payload={"steps": 2, "delay": 0.01})
    progress = (await s.trigger("demo-progress", {"steps": 4, "delay": 0.05})).run.id
    failing = (await s.trigger("demo-fail", {"message": "boom"}, maxAttempts=1)).run.id
    token = await s.token(["read:all"])
    async with socket() as ws:
        await ws.send(type="subscribe", id="p", token=token, run=parked)
        frames = await ws.receive_until(s.is_("run", "p"))
        assert frames[-1]["run"]["status"] == "DELAYED"
        await ws.send(type="subscribe", id="a", token=token, run=progress)
        await ws.send(type="subscribe", id="f", token=token, run=failing)
        # make the parked run due now: the sweep promotes it, a worker runs it
        await sync_to_async(Run.objects.filter(pk=parked).update)(
            ready_at=timezone.now(), delayed_until=timezone.now()
        )
        completed = set()
        while completed != {"p", "a", "f"}:
            frame = await ws.receive(timeout=20)
            frames.append(frame)
            assert frame["type"] in ("subscribed", "run", "complete"), frame
            if frame["type"] == "complete":
                completed.add(frame["id"])
            else:
                assert frame["id"] not in completed, ("a frame after complete", frame)
        by_id = {sub: [f for f in frames if f["id"] == sub] for sub in ("p", "a", "f")}
        for sub, mine in by_id.items():
            assert mine[0] == {"type": "subscribed", "id": sub}
            assert mine[-1] == {"type": "complete", "id": sub}
            assert mine[-2]["type"] == "run" and mine[-2]["run"]["status"] in FINAL_STATUSES
            assert {f["type"] for f in mine[1:-1]} == {"run"}
            assert_one_run_in_order(s.runs_of(mine))

        statuses = [r["status"] for r in s.runs_of(by_id["p"])]
        assert statuses[0] == "DELAYED" and statuses[-1] == "COMPLETED", statuses
        assert "EXECUTING" in statuses
        assert statuses.index("QUEUED") < statuses.index("EXECUTING")

        runs = s.runs_of(by_id["a"])
        assert runs[-1]["status"] == "COMPLETED" and runs[-1]["output"] == {"steps": 4}
        assert runs[-1]["metadata"]["progress"] == 100
        steps = [r["metadata"].get("progress", -1) for r in runs]
        assert steps == sorted(steps)

        failed = s.runs_of(by_id["f"])[-1]
        assert failed["status"] == "FAILED" and "boom" in failed["error"]["message"]

        # each subscription is over: its id is free, and a new one gets the final run at once
        await ws.send(type="subscribe", id="a", token=token, run=progress)
        again = await ws.receive_until(s.is_("complete", "a"))
        assert [f["type"] for f in again] == ["subscribed", "run", "complete"]
        assert again[1]["run"] == runs[-1]


async def test_completion_ends_a_run_subscription_unless_asked_not_to(socket):
    run_id = await s.parked_run()
    token = await s.token(["read:all"])
    async with socket() as ws:
        await ws.send(type="subscribe", id="stop", token=token, run=run_id)
        await ws.receive_until(s.is_("run", "stop"))
        await ws.send(type="subscribe", id="open", token=token, run=run_id, stopOnCompletion=False)
        await ws.receive_until(s.is_("run", "open"))
        await s.cancel(run_id)
        frames = [await ws.receive() for _ in range(3)]
        stop = [f for f in frames if f["id"] == "stop"]
        assert [f["type"] for f in stop] == ["run", "complete"]
        assert stop[0]["run"]["status"] == "CANCELED"
        (canceled,) = [f for f in frames if f["id"] == "open"]
        assert canceled["run"]["status"] == "CANCELED"
        # metadata stays writable after the end: the change arrives, and no "complete"
        await s.touch(run_id, late=True)
        frame = await ws.receive()
        assert frame["type"] == "run" and frame["id"] == "open", frame
        assert frame["run"]["metadata"] == {"late": True}
        assert frame["run"]["version"] == canceled["run"]["version"] + 1
        # a subscription to a finished run with stopOnCompletion false does not end either
        await ws.send(type="subscribe", id="open2", token=token, run=run_id, stopOnCompletion=False)
        frames = [await ws.receive(), await ws.receive()]
        assert [f["type"] for f in frames] == ["subscribed", "run"]
        await ws.nothing(0.2)


async def test_since_version_skips_what_the_client_has(socket):
    run_id = await s.parked_run()
    token = await s.token(["read:all"])
    await s.touch(run_id, n=1)
    version = (await s.get_run(run_id)).version
    async with socket() as ws:
        await ws.send(
            type="subscribe", id="s1", token=token, run=run_id, since={"version": version}
        )
        assert await ws.receive() == {"type": "subscribed", "id": "s1"}
        await s.touch(run_id, n=2)
        frame = await ws.receive()
        assert frame["run"]["version"] == version + 1 and frame["run"]["metadata"] == {"n": 2}
        # a finished run the client already holds: just "complete"
        await s.cancel(run_id)
        final = await ws.receive_until(s.is_("complete", "s1"))
        final_version = final[0]["run"]["version"]
        await ws.send(
            type="subscribe", id="s2", token=token, run=run_id, since={"version": final_version}
        )
        frames = [await ws.receive(), await ws.receive()]
        assert frames == [{"type": "subscribed", "id": "s2"}, {"type": "complete", "id": "s2"}]
        # without since: the final run once, then complete, then nothing
        await ws.send(type="subscribe", id="s3", token=token, run=run_id)
        frames = [await ws.receive() for _ in range(3)]
        assert [f["type"] for f in frames] == ["subscribed", "run", "complete"]
        assert frames[1]["run"]["version"] == final_version
        await ws.nothing(0.2)


# -- tag feeds -------------------------------------------------------------------------------


async def test_tag_feed_is_an_and_of_tags_and_sees_new_runs(socket):
    before = await s.parked_run(tags=["a", "b"])
    await s.parked_run(tags=["a"])
    token = await s.token(["read:tags:a"])
    async with socket() as ws:
        await ws.send(type="subscribe", id="t", token=token, tags=["a", "b"])
        frames = await ws.receive_until(s.is_("run", "t"))
        assert [r["id"] for r in s.runs_of(frames)] == [before]
        only_a = await s.parked_run(tags=["a"])
        only_b = await s.parked_run(tags=["b"])
        both = await s.parked_run(tags=["b", "a"])
        more = await s.parked_run(tags=["x", "a", "b"])
        sentinel = await s.parked_run(tags=["a", "b"])
        frames = await ws.receive_until(lambda f: f.get("run", {}).get("id") == sentinel)
        seen = [r["id"] for r in s.runs_of(frames)]
        assert seen == [both, more, sentinel], (seen, only_a, only_b)
        assert all(f["type"] == "run" and f["id"] == "t" for f in frames)

    # tags with colons are whole tags
    deep = await s.parked_run(tags=["org:1:user:2"])
    await s.parked_run(tags=["org:1"])
    token = await s.token({"read": {"tags": ["org:1:user:2"]}})
    async with socket() as ws:
        await ws.send(type="subscribe", id="t", token=token, tags=["org:1:user:2"])
        frames = [await ws.receive(), await ws.receive()]
        assert frames[1]["run"]["id"] == deep
        await ws.send(type="subscribe", id="u", token=token, tags=["org:1"])
        frame = await ws.receive()
        assert (frame["type"], frame["code"]) == ("error", "forbidden")
        await ws.nothing(0.1)


async def test_tag_feed_status_filter(socket):
    canceled = await s.parked_run(tags=["st"])
    await s.cancel(canceled)
    parked = await s.parked_run(tags=["st"])
    token = await s.token(["read:tags:st"])
    async with socket() as ws:
        await ws.send(type="subscribe", id="t", token=token, tags=["st"], status=["CANCELED"])
        frames = await ws.receive_until(s.is_("run", "t"))
        assert [r["id"] for r in s.runs_of(frames)] == [canceled]
        late = await s.parked_run(tags=["st"])  # DELAYED: filtered out
        await s.touch(parked, n=1)  # still DELAYED: filtered out
        await s.cancel(parked)
        frame = await ws.receive()
        assert frame["run"]["id"] == parked and frame["run"]["status"] == "CANCELED", frame
        await s.cancel(late)
        frame = await ws.receive()
        assert frame["run"]["id"] == late and frame["run"]["status"] == "CANCELED", frame
        # several statuses; one as a plain string
        delayed = await s.parked_run(tags=["st"])
        await ws.send(
            type="subscribe", id="two", token=token, tags=["st"], status=["DELAYED", "CANCELED"]
        )
        frames = [await ws.receive() for _ in range(5)]
        assert frames[0] == {"type": "subscribed", "id": "two"}
        assert {r["id"] for r in s.runs_of(frames)} == {canceled, parked, late, delayed}
        await ws.send(type="subscribe", id="q", token=token, tags=["st"], status="QUEUED")
        assert await ws.receive() == {"type": "subscribed", "id": "q"}
        await ws.nothing(0.2)


def _age(run_id, **delta):
    Run.objects.filter(pk=run_id).update(created_at=timezone.now() - timedelta(**delta))


age = sync_to_async(_age)


async def test_tag_feed_created_at_window(socket):
    recent = await s.parked_run(tags=["w"])
    two_hours = await s.parked_run(tags=["w"])
    two_days = await s.parked_run(tags=["w"])
    await age(two_hours, hours=2)
    await age(two_days, days=2)
    token = await s.token(["read:tags:w"])

    async def snapshot(ws, sub_id, count, **window):
        await ws.send(type="subscribe", id=sub_id, token=token, tags=["w"], **window)
        frames = [await ws.receive() for _ in range(count + 1)]
        assert frames[0] == {"type": "subscribed", "id": sub_id}
        return [r["id"] for r in s.runs_of(frames)]

    async with socket() as ws:
        assert await snapshot(ws, "1h", 1, createdAt="1h") == [recent]
        assert await snapshot(ws, "3h", 2, createdAt="3h") == [two_hours, recent]
        assert await snapshot(ws, "default", 2) == [two_hours, recent]
        assert await snapshot(ws, "3d", 3, createdAt="3d") == [two_days, two_hours, recent]
        assert await snapshot(ws, "secs", 1, createdAt=600) == [recent]
        # Live changes of runs outside a window are not sent to it.
        await ws.send(type="unsubscribe", id="3d")
        await ws.send(type="unsubscribe", id="default")
        await ws.send(type="unsubscribe", id="3h")
        await ws.send(type="unsubscribe", id="secs")
        await ws.send(type="ping")
        assert await ws.receive() == {"type": "pong"}
        await s.touch(two_hours, n=1)
        await s.touch(recent, n=1)
        frame = await ws.receive()
        assert (frame["id"], frame["run"]["id"]) == ("1h", recent), frame


async def test_tag_feed_stays_open_after_runs_finish(worker, socket):
    token = await s.token(["read:tags:open"])
    async with socket() as ws:
        await ws.send(type="subscribe", id="t", token=token, tags=["open"])
        assert await ws.receive() == {"type": "subscribed", "id": "t"}
        ids = []
        for index in range(2):
            handle = await s.trigger("test-echo", {"i": index}, tags=["open"])
            ids.append(handle.run.id)
            frames = await ws.receive_until(
                s.is_("run", "t", id=handle.run.id, status="COMPLETED"), timeout=20
            )
            assert all(f["type"] == "run" for f in frames), frames
            mine = [r for r in s.runs_of(frames) if r["id"] == handle.run.id]
            assert_one_run_in_order(mine)
            assert mine[-1]["output"] == {"i": index}
        # still open: a change after both finished arrives
        await s.touch(ids[0], after=True)
        frames = await ws.receive_until(s.is_("run", "t", id=ids[0]))
        assert frames[-1]["run"]["metadata"] == {"after": True}


# -- batch feeds -----------------------------------------------------------------------------


async def test_batch_feed_gets_every_run_of_the_batch(worker, socket):
    from realtime_runs.sdk import tasks

    batch = await sync_to_async(tasks.batch_trigger)(
        "test-echo", [{"payload": {"i": i}} for i in range(4)]
    )
    other = await sync_to_async(tasks.batch_trigger)("test-echo", [{"payload": {"other": 1}}])
    expected = {run.id for run in batch.runs}
    token = await s.token({"read": {"batch": [batch.id]}})
    async with socket() as ws:
        await ws.send(type="subscribe", id="b", token=token, batch=batch.id)
        finished = {}
        frames = []
        while set(finished) != expected:
            frame = await ws.receive(timeout=20)
            frames.append(frame)
            assert frame["type"] in ("subscribed", "run"), frame
            if frame["type"] == "run":
                run = frame["run"]
                assert run["id"] in expected and run["batchId"] == batch.id, run
                if run["status"] == RunStatus.COMPLETED:
                    finished[run["id"]] = run
        assert frames[0] == {"type": "subscribed", "id": "b"}
        for run_id in expected:
            assert_one_run_in_order([r for r in s.runs_of(frames) if r["id"] == run_id])
        assert sorted(r["output"]["i"] for r in finished.values()) == [0, 1, 2, 3]
        # the feed stays open after the whole batch finished
        await s.touch(other.runs[0].id, x=1)
        await s.touch(batch.runs[0].id, x=1)
        frame = await ws.receive()
        assert frame["run"]["id"] == batch.runs[0].id and frame["run"]["metadata"] == {"x": 1}
