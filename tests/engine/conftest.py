"""Helpers for the engine tests: rows made by hand, captured signals, a dead process id."""

import subprocess
import sys
import threading

import pytest
from django.utils import timezone

from realtime_runs.conf import runs_settings
from realtime_runs.engine.changes import run_changed
from realtime_runs.models import Run, RunStatus, TaskCounter


def inline_only():
    """Skip a test that pokes the in-process inline executor when runs go to Celery."""
    if runs_settings.EXECUTOR != "inline":
        pytest.skip("pokes the in-process inline executor; here runs execute in Celery workers")


def make_run(task="test-echo", status=RunStatus.QUEUED, **fields) -> Run:
    """A run row written directly, handed to nobody (no executor sees it unless it is ready)."""
    now = timezone.now()
    counter, _ = TaskCounter.objects.get_or_create(task_identifier=task)
    counter.last_number += 1
    counter.save()
    fields.setdefault("created_at", now)
    fields.setdefault("updated_at", now)
    return Run.objects.create(
        task_identifier=task, number=counter.last_number, status=status, **fields
    )


@pytest.fixture
def changes():
    """The run ids of every ``run_changed`` signal sent during the test, in order."""
    received = []
    lock = threading.Lock()

    def receiver(sender, run_id, **kwargs):
        with lock:
            received.append(run_id)

    run_changed.connect(receiver, weak=False)
    yield received
    run_changed.disconnect(receiver)


@pytest.fixture(scope="session")
def dead_pid():
    """The id of a process that has exited (and been reaped), so no process has it now."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def worker_slots(worker):
    """How many runs the ``worker`` fixture executes at once."""
    if runs_settings.EXECUTOR == "inline":
        return runs_settings.INLINE_WORKERS
    return worker.concurrency
