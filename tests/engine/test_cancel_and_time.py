"""Stopping runs: cancel, maxDuration, ttl; and starting them late: delay."""

from datetime import timedelta

import pytest
from django.utils import timezone

from realtime_runs import engine
from realtime_runs.engine.execution import Worker
from realtime_runs.engine.sweep import sweep
from realtime_runs.errors import Unprocessable
from realtime_runs.models import FINAL_STATUSES, Run, RunStatus
from realtime_runs.sdk import runs, tasks
from tests.conftest import wait_for, wait_for_status
from tests.engine.conftest import make_run


def attempt_over(run_id, timeout=10.0) -> Run:
    """Wait until the worker is done with the run's attempt: it records the compute time last."""
    return wait_for(
        lambda: Run.objects.filter(pk=run_id, duration_ms__gt=0).first(),
        timeout,
        message=f"the attempt of {run_id} to end",
    )


# -- cancel -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_queued_run_without_a_worker_is_canceled_at_once():
    handle = tasks.trigger("test-echo", {})
    run = runs.cancel(handle.id)
    assert run.status == RunStatus.CANCELED
    stored = Run.objects.get(pk=handle.id)
    assert stored.status == RunStatus.CANCELED
    assert stored.finished_at is not None
    assert stored.version == 2
    assert stored.to_dict()["isCancelled"] is True
    # A worker that gets it later leaves it alone.
    assert Worker("test").execute(handle.id) == "not-claimed"
    assert Run.objects.get(pk=handle.id).status == RunStatus.CANCELED


@pytest.mark.django_db
def test_a_delayed_run_can_be_canceled():
    handle = tasks.trigger("test-echo", {}, delay="1h")
    assert runs.cancel(handle.id).status == RunStatus.CANCELED
    sweep(now=timezone.now() + timedelta(hours=2))
    assert Run.objects.get(pk=handle.id).status == RunStatus.CANCELED


@pytest.mark.django_db
def test_a_run_canceled_between_attempts_is_not_claimed_again():
    # EXECUTING with no worker: attempt 1 failed and the retry is due.
    run = make_run(status=RunStatus.EXECUTING, attempt_number=1, ready_at=timezone.now())
    assert engine.cancel(run.id).status == RunStatus.CANCELED
    assert Worker("test").execute(run.id) == "not-claimed"
    run.refresh_from_db()
    assert (run.status, run.attempt_number) == (RunStatus.CANCELED, 1)


@pytest.mark.django_db
@pytest.mark.parametrize("status", sorted(FINAL_STATUSES - {RunStatus.CANCELED}))
def test_canceling_a_finished_run_is_unprocessable(status):
    run = make_run(status=status)
    with pytest.raises(Unprocessable) as caught:
        engine.cancel(run.id)
    assert caught.value.code == "run_finished"
    assert caught.value.status == 422
    run.refresh_from_db()
    assert (run.status, run.version) == (status, 1)


@pytest.mark.django_db
def test_canceling_a_canceled_run_again_is_harmless():
    run = make_run()
    engine.cancel(run.id)
    assert engine.cancel(run.id).status == RunStatus.CANCELED
    assert Run.objects.get(pk=run.id).version == 2


def test_canceling_running_runs_frees_their_workers(worker, worker_slots):
    sleepers = [tasks.trigger("test-sleep", {"seconds": 60}).id for _ in range(worker_slots)]
    for run_id in sleepers:
        wait_for_status(run_id, RunStatus.EXECUTING)
    for run_id in sleepers:
        assert runs.cancel(run_id).status == RunStatus.CANCELED
    # Every slot was busy sleeping for a minute: this runs only if the cancels freed them.
    after = wait_for_status(tasks.trigger("test-echo", {"next": True}).id, RunStatus.COMPLETED)
    assert after.output == {"next": True}
    for run_id in sleepers:
        run = attempt_over(run_id)
        assert run.status == RunStatus.CANCELED
        assert run.output is None
        assert run.duration_ms < 30_000


def test_a_running_async_task_is_canceled(worker):
    handle = tasks.trigger("test-async", {"seconds": 60})
    wait_for(
        lambda: Run.objects.get(pk=handle.id).metadata.get("stage") == "started",
        message="the async task to start",
    )
    runs.cancel(handle.id)
    run = attempt_over(handle.id)
    assert run.status == RunStatus.CANCELED
    assert run.metadata == {"stage": "started"}  # it never got past its sleep
    assert run.output is None
    assert run.duration_ms < 30_000


# -- maxDuration --------------------------------------------------------------------------


def test_a_run_past_its_max_duration_is_timed_out_and_stays_so(worker):
    handle = tasks.trigger("test-sleep", {"seconds": 30}, max_duration="1s")
    run = wait_for_status(handle.id, RunStatus.TIMED_OUT, timeout=5)
    assert run.error["name"] == "MaxDurationExceededError"
    assert timedelta(seconds=1) <= run.finished_at - run.started_at < timedelta(seconds=4)
    run = attempt_over(handle.id)
    assert run.status == RunStatus.TIMED_OUT
    assert run.output is None
    assert run.attempt_number == 1
    assert run.duration_ms < 10_000


def test_max_duration_may_be_given_in_seconds(worker):
    handle = tasks.trigger("test-sleep", {"seconds": 30}, max_duration=1)
    assert Run.objects.get(pk=handle.id).max_duration == 1
    wait_for_status(handle.id, RunStatus.TIMED_OUT, timeout=5)
    attempt_over(handle.id)


@pytest.mark.django_db
def test_the_sweep_times_out_a_run_whose_worker_stopped_checking():
    started = timezone.now() - timedelta(seconds=5)
    run = make_run(
        "test-sleep",
        RunStatus.EXECUTING,
        started_at=started,
        max_duration=2,
        worker_id="stuck",
        heartbeat_at=timezone.now(),
    )
    assert sweep()["timed_out"] == 1
    run.refresh_from_db()
    assert run.status == RunStatus.TIMED_OUT
    assert run.error["name"] == "MaxDurationExceededError"


# -- ttl ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_run_nobody_starts_within_its_ttl_expires():
    handle = tasks.trigger("test-echo", {}, ttl="10s")
    now = timezone.now()
    assert sweep(now=now + timedelta(seconds=5))["expired"] == 0
    assert Run.objects.get(pk=handle.id).status == RunStatus.QUEUED
    assert sweep(now=now + timedelta(seconds=11))["expired"] == 1
    run = Run.objects.get(pk=handle.id)
    assert run.status == RunStatus.EXPIRED
    assert run.expired_at is not None and run.finished_at is not None
    data = run.to_dict()
    assert data["ttl"] == "10s" and data["expiredAt"] is not None and data["isFinished"]


@pytest.mark.django_db
def test_a_worker_that_finds_a_run_past_its_ttl_expires_it():
    run = make_run(ready_at=timezone.now(), expire_at=timezone.now() - timedelta(seconds=1))
    assert Worker("test").execute(run.id) == "expired"
    run.refresh_from_db()
    assert run.status == RunStatus.EXPIRED
    assert run.attempt_number == 0


@pytest.mark.django_db
def test_a_started_run_does_not_expire():
    run = make_run(status=RunStatus.EXECUTING, worker_id="w", expire_at=timezone.now())
    assert sweep(now=timezone.now() + timedelta(seconds=1))["expired"] == 0
    assert Run.objects.get(pk=run.id).status == RunStatus.EXECUTING


# -- delay --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_delayed_run_waits_and_its_ttl_starts_when_it_is_queued():
    handle = tasks.trigger("test-echo", {}, delay="1m", ttl="10s")
    run = Run.objects.get(pk=handle.id)
    assert run.status == RunStatus.DELAYED
    assert run.queued_at is None and run.ready_at is None and run.expire_at is None
    assert abs(run.delayed_until - run.created_at - timedelta(minutes=1)) < timedelta(seconds=1)
    assert sweep(now=run.delayed_until - timedelta(seconds=1))["queued"] == 0
    due = run.delayed_until + timedelta(seconds=1)
    assert sweep(now=due)["queued"] == 1
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED
    assert run.queued_at == due
    assert run.expire_at == due + timedelta(seconds=10)


@pytest.mark.django_db
def test_a_delay_in_the_past_queues_at_once():
    when = (timezone.now() - timedelta(minutes=1)).isoformat()
    assert Run.objects.get(pk=tasks.trigger("test-echo", {}, delay=when).id).status == "QUEUED"


def test_a_delayed_run_is_queued_and_executed_when_due(worker):
    handle = tasks.trigger("test-echo", {"late": True}, delay="1s")
    run = Run.objects.get(pk=handle.id)
    assert run.status == RunStatus.DELAYED
    assert run.to_dict()["delayedUntil"] is not None
    run = wait_for_status(handle.id, RunStatus.COMPLETED, timeout=10)
    assert run.output == {"late": True}
    assert run.queued_at >= run.delayed_until
    assert run.started_at >= run.delayed_until
