"""Runs whose worker died are retried or CRASHED; every run executes exactly once."""

import os
import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from realtime_runs.conf import runs_settings
from realtime_runs.engine.executors import get_executor
from realtime_runs.engine.sweep import sweep
from realtime_runs.models import Run, RunStatus
from realtime_runs.sdk import tasks
from tests.conftest import wait_for, wait_for_status
from tests.engine.conftest import inline_only, make_run


def held_by(pid, task="test-echo", seconds_ago=0.0, **fields):
    """A run left EXECUTING (attempt 1) by the inline worker of process ``pid`` on this host."""
    beat = timezone.now() - timedelta(seconds=seconds_ago)
    fields.setdefault("attempt_number", 1)
    return make_run(
        task,
        RunStatus.EXECUTING,
        payload={"from": "before the crash"},
        worker_id=f"inline:{socket.gethostname()}:{pid}:w_x",
        heartbeat_at=beat,
        started_at=beat,
        queued_at=beat,
        **fields,
    )


@pytest.mark.django_db(transaction=True)
def test_starting_the_inline_executor_recovers_runs_of_dead_local_workers(dead_pid):
    inline_only()
    # Heartbeats a minute ahead: the sweep cannot take these for stale, only start() can.
    dead = held_by(dead_pid, seconds_ago=-60)
    alive = held_by(os.getppid(), seconds_ago=-60)  # our parent process is alive
    elsewhere = make_run(
        "test-echo",
        RunStatus.EXECUTING,
        attempt_number=1,
        worker_id=f"celery:{socket.gethostname()}:{dead_pid}:w_y",
        heartbeat_at=timezone.now() + timedelta(seconds=60),
    )
    executor = get_executor()
    executor.start()
    try:
        run = wait_for_status(dead.id, RunStatus.COMPLETED)
    finally:
        executor.stop()
    assert run.attempt_number == 2
    assert run.output == {"from": "before the crash"}
    assert run.error is None
    for other in (alive, elsewhere):
        stored = Run.objects.get(pk=other.id)
        assert (stored.status, stored.worker_id, stored.version) == (
            RunStatus.EXECUTING,
            other.worker_id,
            1,
        )


@pytest.mark.django_db
def test_a_dead_local_worker_past_its_attempts_is_crashed_at_start(dead_pid):
    inline_only()
    run = held_by(dead_pid, task="test-sleep", seconds_ago=-60)
    get_executor()._recover_dead_local_workers()
    run.refresh_from_db()
    assert run.status == RunStatus.CRASHED
    assert run.error["name"] == "WorkerCrashedError"


@pytest.mark.django_db(transaction=True)
def test_the_sweep_retries_a_run_whose_worker_stopped_heartbeating(request, dead_pid):
    run = held_by(dead_pid, seconds_ago=runs_settings.HEARTBEAT_TIMEOUT + 5)
    counts = sweep()
    if runs_settings.EXECUTOR == "inline":  # a Celery worker's own sweep may get there first
        assert counts["recovered"] == 1
    request.getfixturevalue("worker")
    run = wait_for_status(run.id, RunStatus.COMPLETED)
    assert run.attempt_number == 2
    assert run.output == {"from": "before the crash"}


@pytest.mark.django_db
def test_a_fresh_heartbeat_is_left_alone(dead_pid):
    run = held_by(dead_pid, seconds_ago=runs_settings.HEARTBEAT_TIMEOUT / 2)
    assert sweep()["recovered"] == 0
    assert Run.objects.get(pk=run.id).version == 1


@pytest.mark.django_db
def test_past_its_max_attempts_a_run_of_a_dead_worker_is_crashed(dead_pid):
    # test-sleep has max_attempts=1, and attempt 1 was the one that died.
    run = held_by(dead_pid, task="test-sleep", seconds_ago=runs_settings.HEARTBEAT_TIMEOUT + 5)
    assert sweep()["crashed"] == 1
    run.refresh_from_db()
    assert run.status == RunStatus.CRASHED
    assert run.finished_at is not None
    assert run.error["name"] == "WorkerCrashedError"
    assert run.error["message"]
    assert str(dead_pid) in run.error["message"]
    assert run.to_dict()["isFailed"] is True
    assert sweep()["crashed"] == 0  # once


@pytest.mark.django_db
def test_a_run_option_max_attempts_counts_when_recovering(dead_pid):
    stale = runs_settings.HEARTBEAT_TIMEOUT + 5
    last = held_by(dead_pid, seconds_ago=stale, attempt_number=2, max_attempts=2)
    more = held_by(dead_pid, seconds_ago=stale, attempt_number=2, max_attempts=3)
    counts = sweep()
    assert (counts["crashed"], counts["recovered"]) == (1, 1)
    assert Run.objects.get(pk=last.id).status == RunStatus.CRASHED
    assert Run.objects.get(pk=more.id).worker_id == ""


@pytest.mark.django_db
def test_a_dequeued_run_of_a_dead_worker_is_queued_again_without_using_an_attempt(dead_pid):
    run = held_by(dead_pid, seconds_ago=runs_settings.HEARTBEAT_TIMEOUT + 5, attempt_number=0)
    Run.objects.filter(pk=run.id).update(status=RunStatus.DEQUEUED)
    assert sweep()["recovered"] == 1
    run.refresh_from_db()
    assert (run.status, run.worker_id, run.attempt_number) == (RunStatus.QUEUED, "", 0)


# -- exactly once -------------------------------------------------------------------------


def test_every_run_executes_exactly_once(worker, tmp_path):
    ledger = tmp_path / "ledger"
    ledger.touch()
    ids = {tasks.trigger("test-ledger", {"ledger": str(ledger)}).id for _ in range(200)}

    def all_done():
        # Hand every ready run off again on each pass: duplicated hand-offs must not make
        # duplicated attempts (the claim decides).
        sweep(requeue_after=0)
        return Run.objects.filter(pk__in=ids, status=RunStatus.COMPLETED).count() == len(ids)

    wait_for(all_done, timeout=60, interval=0.3, message="200 runs to complete")
    lines = ledger.read_text().splitlines()
    assert len(lines) == len(ids)
    assert {line.split()[0] for line in lines} == ids
    assert {line.split()[1] for line in lines} == {"1"}
    assert set(Run.objects.filter(pk__in=ids).values_list("attempt_number", flat=True)) == {1}
