"""Executing runs end to end with a real worker: outcomes, context, retries, cost, metadata."""

import pytest
from django.utils import timezone

from realtime_runs.conf import runs_settings
from realtime_runs.engine.executors import get_executor
from realtime_runs.models import FINAL_STATUSES, Run, RunStatus
from realtime_runs.sdk import runs, tasks
from tests.conftest import wait_for, wait_for_status
from tests.engine.conftest import inline_only, make_run

FINAL = sorted(FINAL_STATUSES)


def finished(run_id, timeout=15.0) -> Run:
    return wait_for_status(run_id, *FINAL, timeout=timeout)


def test_a_triggered_run_completes_with_its_output(worker):
    handle = tasks.trigger("test-echo", {"hello": ["world", 1]})
    run = finished(handle.id)
    assert run.status == RunStatus.COMPLETED
    assert run.output == {"hello": ["world", 1]}
    assert run.error is None
    assert run.attempt_number == 1
    assert run.started_at is not None and run.finished_at >= run.started_at
    data = runs.retrieve(handle.id).to_dict()
    assert data["isSuccess"] is data["isFinished"] is data["isCompleted"] is True
    assert data["isFailed"] is False


def test_the_task_sees_its_context(worker):
    batch = tasks.batch_trigger(
        "test-context", [{"payload": {"p": 1}, "options": {"tags": ["c1", "c2"], "test": True}}]
    )
    run_id = batch.runs[0].id
    run = finished(run_id)
    assert run.status == RunStatus.COMPLETED
    assert run.output == {
        "runId": run_id,
        "taskId": "test-context",
        "attempt": 1,
        "tags": ["c1", "c2"],
        "batchId": batch.id,
        "isTest": True,
    }


def test_an_async_task_completes_and_writes_its_metadata(worker):
    run = finished(tasks.trigger("test-async", {"seconds": 0.05}).id)
    assert run.status == RunStatus.COMPLETED
    assert run.output == {"async": True, "attempt": 1}
    assert run.metadata == {"stage": "done"}


def test_a_flaky_task_succeeds_on_its_third_attempt(worker):
    run = finished(tasks.trigger("test-flaky", {"succeed_on": 3}).id)
    assert run.status == RunStatus.COMPLETED
    assert run.attempt_number == 3
    assert run.output == {"attempt": 3}
    assert run.error is None  # the failed attempts' error does not outlive the success
    assert run.to_dict()["attemptNumber"] == 3


def test_a_task_that_keeps_failing_is_failed_after_max_attempts(worker):
    run = finished(tasks.trigger("test-flaky", {"succeed_on": 99}).id)
    assert run.status == RunStatus.FAILED
    assert run.attempt_number == 4  # test-flaky has max_attempts=4
    assert run.error["message"] == "attempt 4 fails"
    assert run.error["name"] == "ValueError"
    assert "Traceback" in run.error["stackTrace"]
    assert "ValueError: attempt 4 fails" in run.error["stackTrace"]
    assert run.output is None


def test_demo_fail_retries_then_fails_with_its_message(worker):
    handle = tasks.trigger("demo-fail", {"message": "boom"}, max_attempts=2)
    run = finished(handle.id, timeout=20)
    assert run.status == RunStatus.FAILED
    assert run.attempt_number == 2
    assert set(run.error) == {"message", "name", "stackTrace"}
    assert run.error["message"] == "boom"
    assert run.error["name"] == "RuntimeError"
    assert "demo_fail" in run.error["stackTrace"]
    assert run.to_dict()["isFailed"] is True


def test_abort_fails_at_once_on_the_first_attempt(worker):
    run = finished(tasks.trigger("test-abort").id)
    assert run.status == RunStatus.FAILED
    assert run.attempt_number == 1
    assert run.error["name"] == "AbortTaskRunError"
    assert run.error["message"] == "no point in trying again"


def test_output_over_the_limit_fails_the_run(worker):
    run = finished(tasks.trigger("test-big-output").id)
    assert run.status == RunStatus.FAILED
    assert run.attempt_number == 1  # retrying would return the same output
    assert run.output is None
    assert str(runs_settings.MAX_PAYLOAD_BYTES) in run.error["message"]


def test_an_unregistered_task_is_a_system_failure(worker):
    # A row whose task is no longer registered (a deploy removed it, say).
    run = make_run("test-removed", ready_at=timezone.now())
    get_executor().submit(run.id)
    run = wait_for_status(run.id, RunStatus.SYSTEM_FAILURE)
    assert "test-removed" in run.error["message"]


def test_duration_and_cost_are_measured(worker):
    run = finished(tasks.trigger("test-sleep", {"seconds": 0.1}).id)
    assert run.status == RunStatus.COMPLETED
    assert 100 <= run.duration_ms < 5000
    rate = runs_settings.COST_PER_SECOND_IN_CENTS
    assert run.cost_in_cents == pytest.approx(run.duration_ms / 1000 * rate)
    assert run.cost_in_cents > 0
    assert run.base_cost_in_cents == runs_settings.BASE_COST_IN_CENTS
    data = run.to_dict()
    assert (data["durationMs"], data["costInCents"]) == (run.duration_ms, run.cost_in_cents)
    assert data["baseCostInCents"] == runs_settings.BASE_COST_IN_CENTS


def test_cost_uses_the_configured_rates(settings, worker):
    inline_only()  # the settings must reach the worker, which runs in this process
    settings.REALTIME_RUNS = {
        **settings.REALTIME_RUNS,
        "COST_PER_SECOND_IN_CENTS": 10.0,
        "BASE_COST_IN_CENTS": 0.5,
    }
    run = finished(tasks.trigger("test-sleep", {"seconds": 0.05}).id)
    assert run.duration_ms >= 50
    assert run.cost_in_cents == pytest.approx(run.duration_ms / 100)
    assert run.base_cost_in_cents == 0.5


def test_metadata_is_coalesced_and_exactly_right(worker):
    handle = tasks.trigger("test-metadata", {"count": 50})  # ~100 operations
    run = finished(handle.id)
    assert run.status == RunStatus.COMPLETED
    expected = {"count": 40, "log": ["tick"] * 50, "nested": {"value": 1}}
    assert run.metadata == expected
    assert run.output == expected
    assert run.version < 20, f"{run.version} versions for ~100 operations: not coalesced"


def test_every_change_of_an_executed_run_is_announced_once(changes, worker):
    inline_only()  # the signal is sent in the process that made the change
    handle = tasks.trigger("test-flaky", {"succeed_on": 2})
    run = finished(handle.id)
    assert run.status == RunStatus.COMPLETED
    # Created at version 1, +1 per change: one signal per version.
    wait_for(lambda: changes.count(handle.id) >= run.version, timeout=2)
    assert changes.count(handle.id) == run.version


def test_metadata_can_be_updated_from_outside_a_running_task(worker):
    handle = tasks.trigger("test-echo", {})
    finished(handle.id)
    metadata = runs.update_metadata(handle.id, [{"type": "set", "key": "note", "value": "late"}])
    assert metadata == {"note": "late"}
    assert Run.objects.get(pk=handle.id).metadata == {"note": "late"}


def test_metadata_calls_outside_a_task_explain_themselves():
    from realtime_runs.sdk import metadata

    with pytest.raises(RuntimeError, match="inside a running task"):
        metadata.set("x", 1)
