"""Losslessness (CONTRACT.md §4 rules 1-3): late joiners, reconnects with since, the subscribe
race, and a client's copy kept from frames alone matching the database at the end."""

import pytest

from realtime_runs.realtime import session as session_module
from tests.realtime import support as s

pytestmark = pytest.mark.django_db(transaction=True)

WORDS = [f"w{i}" for i in range(16)]
TEXT = " ".join(WORDS)


def assert_chunks(frames, run_id, first_seq=1):
    """Every chunk from ``first_seq`` on, once each, in seq order, with the right word."""
    chunks = s.chunks_of(frames)
    assert all(c["runId"] == run_id and c["stream"] == "tokens" for c in chunks), chunks
    seqs = [c["seq"] for c in chunks]
    assert seqs == list(range(first_seq, len(WORDS) + 1)), seqs
    assert [c["chunk"] for c in chunks] == WORDS[first_seq - 1 :]


def assert_versions(frames, above=0):
    versions = [r["version"] for r in s.runs_of(frames)]
    assert versions == sorted(set(versions)), versions
    assert all(v > above for v in versions), (above, versions)


async def test_late_joiner_and_reconnecting_client_lose_nothing(worker, socket):
    handle = await s.trigger("demo-stream", {"text": TEXT, "delay": 0.03})
    run_id = handle.run.id
    token = await s.token([f"read:runs:{run_id}"])

    # A first client follows from the start, and drops after a few chunks.
    async with socket() as first:
        await first.send(type="subscribe", id="s1", token=token, run=run_id, streams=True)
        seen = await first.receive_until(lambda f: f["type"] == "stream" and f["seq"] >= 3)
    version = max(r["version"] for r in s.runs_of(seen))
    last_seq = max(c["seq"] for c in s.chunks_of(seen))
    assert s.runs_of(seen) and last_seq >= 3

    # A second client joins while the run is streaming.
    await s.wait_until(lambda: s.chunk_count(run_id), message="the first chunk to be stored")
    async with socket() as late, socket() as back:
        await late.send(type="subscribe", id="late", token=token, run=run_id, streams=True)
        # The first client comes back on a fresh socket with what it holds.
        await back.send(
            type="subscribe",
            id="s1",
            token=token,
            run=run_id,
            streams=True,
            since={"version": version, "streams": {"tokens": last_seq}},
        )
        late_frames = await late.receive_until(s.is_("complete", "late"), timeout=20)
        back_frames = await back.receive_until(s.is_("complete", "s1"), timeout=20)

    assert late_frames[0] == {"type": "subscribed", "id": "late"}
    assert_chunks(late_frames, run_id)
    assert_versions(late_frames)
    assert back_frames[0] == {"type": "subscribed", "id": "s1"}
    assert_chunks(back_frames, run_id, first_seq=last_seq + 1)
    assert_versions(back_frames, above=version)
    assert_chunks(seen + back_frames, run_id)  # together: every chunk exactly once

    final = await s.fetch(run_id, token)
    assert final["status"] == "COMPLETED" and final["output"] == {"text": TEXT}
    assert "tokens" in final["streams"]
    assert s.runs_of(late_frames)[-1] == final
    assert s.runs_of(back_frames)[-1] == final
    for frames in (late_frames, back_frames):
        assert frames[-1]["type"] == "complete"
        finals = [i for i, f in enumerate(frames) if f["type"] == "run"]
        assert frames[finals[-1]]["run"]["status"] == "COMPLETED"


async def test_joining_after_the_end_gets_every_chunk_then_complete(worker, socket):
    handle = await s.trigger("demo-stream", {"text": TEXT, "delay": 0})
    run_id = handle.run.id
    token = await s.token([f"read:runs:{run_id}"])
    async with socket() as ws:
        await ws.send(type="subscribe", id="s1", token=token, run=run_id, streams=True)
        await ws.receive_until(s.is_("complete", "s1"), timeout=20)
        # now it is certainly over: a new subscription gets the whole stream from the table
        await ws.send(type="subscribe", id="s2", token=token, run=run_id, streams=True)
        frames = await ws.receive_until(s.is_("complete", "s2"))
        assert_chunks(frames, run_id)
        assert [f["type"] for f in frames[:2]] == ["subscribed", "run"]
        await ws.send(
            type="subscribe",
            id="s3",
            token=token,
            run=run_id,
            streams=True,
            since={"streams": {"tokens": 10}},
        )
        frames = await ws.receive_until(s.is_("complete", "s3"))
        assert_chunks(frames, run_id, first_seq=11)
        # without streams: the run, no chunks
        await ws.send(type="subscribe", id="s4", token=token, run=run_id)
        frames = await ws.receive_until(s.is_("complete", "s4"))
        assert [f["type"] for f in frames] == ["subscribed", "run", "complete"]


# -- the subscribe race ----------------------------------------------------------------------


@pytest.mark.parametrize("when", ["before", "after"])
async def test_a_change_inside_the_snapshot_window_is_sent_once(socket, monkeypatch, when):
    """Between joining the feed and reading the state, the run changes. Rule 1: the change is
    not lost ("after": only the live feed has it) and not sent twice ("before": both have it)."""
    run_id = await s.parked_run()
    start = (await s.get_run(run_id)).version
    token = await s.token(["read:all"])
    read_snapshot = session_module.snapshot

    async def racing_snapshot(sub):
        monkeypatch.setattr(session_module, "snapshot", read_snapshot)  # race once
        if when == "before":
            await s.touch(run_id, raced=True)
        state = await read_snapshot(sub)
        if when == "after":
            await s.touch(run_id, raced=True)
        return state

    monkeypatch.setattr(session_module, "snapshot", racing_snapshot)
    async with socket() as ws:
        await ws.send(type="subscribe", id="s1", token=token, run=run_id)
        assert await ws.receive() == {"type": "subscribed", "id": "s1"}
        # the snapshot frame, as the race left it
        snapshot = await ws.receive()
        await s.touch(run_id, raced=True, then=True)  # the end marker
        frames = [snapshot, *await ws.receive_until(lambda f: f["run"]["metadata"].get("then"))]
    runs = s.runs_of(frames)
    versions = [r["version"] for r in runs]
    if when == "before":
        assert versions == [start + 1, start + 2], runs
    else:
        assert versions == [start, start + 1, start + 2], runs
    assert runs[-2]["metadata"] == {"raced": True}


async def test_chunks_are_sent_once_across_the_snapshot_window_and_lost_messages(
    socket, monkeypatch
):
    """The same race for stream chunks: stored while the subscription reads the table; then a
    chunk message the layer lost."""
    from asgiref.sync import sync_to_async

    from realtime_runs.engine.streams import StreamWriter

    run_id = await s.parked_run()
    token = await s.token(["read:all"])
    writer = StreamWriter(run_id, "tokens")

    def write(*words):
        for word in words:
            writer.add(word)
        writer.flush()

    write_async = sync_to_async(write)
    await write_async("w0", "w1")
    read_chunks = session_module.stored_chunks

    async def racing_chunks(run, since):
        monkeypatch.setattr(session_module, "stored_chunks", read_chunks)  # race once
        await write_async("w2")  # stored and published while the table is read
        chunks = await read_chunks(run, since)
        await write_async("w3")  # stored after the read: only the live feed has it
        return chunks

    monkeypatch.setattr(session_module, "stored_chunks", racing_chunks)
    async with socket() as ws:
        await ws.send(type="subscribe", id="s1", token=token, run=run_id, streams=True)
        frames = await ws.receive_until(lambda f: f["type"] == "stream" and f["seq"] == 4)
        await write_async("w4")
        frames += await ws.receive_until(lambda f: f["type"] == "stream" and f["seq"] == 5)

        # The layer may drop a message (it is at-most-once): the next one shows a gap in seq,
        # and the session fills it from the table.
        from realtime_runs.realtime import publish

        send_chunks = publish.publish_stream_chunks
        monkeypatch.setattr(publish, "publish_stream_chunks", lambda *args: None)
        await write_async("w5", "w6")  # stored, never published
        monkeypatch.setattr(publish, "publish_stream_chunks", send_chunks)
        await write_async("w7")
        frames += await ws.receive_until(lambda f: f["type"] == "stream" and f["seq"] == 8)
        await ws.nothing(0.2)
    chunks = s.chunks_of(frames)
    assert [(c["seq"], c["chunk"]) for c in chunks] == [(i + 1, f"w{i}") for i in range(8)]


# -- a client's copy from frames alone -------------------------------------------------------


async def test_frames_applied_to_a_stale_copy_give_the_final_state(worker, socket):
    """Apply every run frame to a copy with the client's rule (keep newer versions only), the
    way a browser does, and compare with a fresh GET once everything has finished."""
    token = await s.token(["read:tags:copy"])
    handles = [
        await s.trigger("demo-progress", {"steps": 5, "delay": 0.02}, tags=["copy"]),
        await s.trigger("demo-stream", {"text": "a b c d", "delay": 0.01}, tags=["copy"]),
        await s.trigger("test-metadata", {"count": 20}, tags=["copy"]),
    ]
    ids = {h.run.id for h in handles}
    copy_feed, copy_runs = {}, {}
    async with socket() as ws:
        await ws.send(type="subscribe", id="feed", token=token, tags=["copy"])
        for handle in handles:
            await ws.send(type="subscribe", id=handle.run.id, token=token, run=handle.run.id)
        ended = set()
        while ended != ids:
            frame = await ws.receive(timeout=20)
            if frame["type"] == "run":
                s.apply(copy_feed if frame["id"] == "feed" else copy_runs, frame)
            elif frame["type"] == "complete":
                ended.add(frame["id"])
            else:
                assert frame["type"] == "subscribed", frame
        # The tag feed stays open: read it until it holds the final version of every run.
        finals = {run_id: await s.fetch(run_id, token) for run_id in ids}
        while any(copy_feed.get(i, {}).get("version") != finals[i]["version"] for i in ids):
            frame = await ws.receive(timeout=10)
            if frame["type"] == "run" and frame["id"] == "feed":
                s.apply(copy_feed, frame)
    for run_id in ids:
        assert copy_runs[run_id] == finals[run_id]
        assert copy_feed[run_id] == finals[run_id]
        assert finals[run_id]["isFinished"] and finals[run_id]["isSuccess"]
