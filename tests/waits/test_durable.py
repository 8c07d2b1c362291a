"""Durable waits: the task function replays, and what it already did is not done again."""

import pytest

from realtime_runs.models import RunStatus, StreamChunk, WaitToken
from realtime_runs.sdk import runs, tasks, wait
from realtime_runs.sdk.wait import WaitpointTimeoutError
from tests.conftest import wait_for, wait_for_status

pytestmark = pytest.mark.django_db(transaction=True)


def _waiting_token(run_id):
    wait_for_status(run_id, RunStatus.WAITING)
    return wait_for(lambda: runs.retrieve(run_id).metadata.get("token"))


def test_replay_does_not_repeat_metadata_steps_or_stream_chunks(worker, tmp_path):
    ledger = tmp_path / "ledger"
    handle = tasks.trigger("test-durable", {"ledger": str(ledger)})
    token_id = _waiting_token(handle.id)
    wait.complete_token(token_id, {"approved": True})
    run = wait_for_status(handle.id, RunStatus.COMPLETED)
    assert run.metadata["counter"] == 2
    assert run.output == {"ok": True, "output": {"approved": True}, "error": None}
    lines = ledger.read_text().splitlines()
    assert lines.count(f"step {handle.id}") == 1  # the step ran once
    assert lines.count(f"body {handle.id}") == 2  # code outside steps ran again, as documented
    chunks = StreamChunk.objects.filter(run_id=handle.id, key="words").order_by("seq")
    assert [(c.seq, c.data) for c in chunks] == [(1, "a"), (2, "b"), (3, "c")]
    assert WaitToken.objects.filter(created_by_run_id=handle.id).count() == 1
    assert run.attempt_number == 1


def test_a_timed_out_token_returns_not_ok_and_the_run_goes_on(worker, tmp_path):
    handle = tasks.trigger("test-durable", {"ledger": str(tmp_path / "l"), "timeout": 0.5})
    _waiting_token(handle.id)
    run = wait_for_status(handle.id, RunStatus.COMPLETED)
    assert run.output["ok"] is False
    assert run.output["error"]["name"] == "WaitpointTimeoutError"
    result = wait.WaitResult.from_json(run.output)
    with pytest.raises(WaitpointTimeoutError):
        result.unwrap()


def test_a_completed_token_returns_at_once(worker):
    token = wait.create_token()
    wait.complete_token(token.id, {"ready": 1})
    assert wait.retrieve_token(token.id).output == {"ready": 1}
    assert wait.WaitResult.of(wait.retrieve_token(token.id)).unwrap() == {"ready": 1}


def test_for_duration_resumes_on_time_and_a_run_may_wait_many_times(worker):
    handle = tasks.trigger("test-naps", {"naps": [0.5, 0.3]})
    wait_for_status(handle.id, RunStatus.WAITING)
    run = wait_for_status(handle.id, RunStatus.COMPLETED)
    first, second, end = run.output["times"]
    assert 0.5 <= second - first < 1.5  # on time, within a second
    assert 0.3 <= end - second < 1.3


def test_canceling_a_waiting_run_works_and_a_later_completion_changes_nothing(worker, tmp_path):
    handle = tasks.trigger("test-durable", {"ledger": str(tmp_path / "l")})
    token_id = _waiting_token(handle.id)
    assert runs.cancel(handle.id).status == RunStatus.CANCELED
    version = runs.retrieve(handle.id).version
    wait.complete_token(token_id, {"approved": True})
    run = runs.retrieve(handle.id)
    assert run.status == RunStatus.CANCELED and run.version == version


def test_idempotency_key_returns_the_same_token(db):
    first = wait.create_token(idempotency_key="approve-order-1", tags=["approval"])
    second = wait.create_token(idempotency_key="approve-order-1")
    assert second.id == first.id and second.is_cached and not first.is_cached
    assert [t.id for t in wait.list_tokens(tags="approval")] == [first.id]
    assert [t.id for t in wait.list_tokens(idempotency_key="approve-order-1")] == [first.id]


def test_wait_calls_outside_a_task_say_so(db):
    with pytest.raises(RuntimeError, match="inside a running task"):
        wait.for_token("waitpoint_x")
