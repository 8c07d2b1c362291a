"""Races inside one worker, driven step by step with a ``Worker`` of the test's own.

Each test forces one interleaving that real timing produces only rarely.
"""

import threading

import pytest
from django.db import connection
from django.utils import timezone

from realtime_runs import engine
from realtime_runs.engine import execution
from realtime_runs.engine.context import RunContext
from realtime_runs.engine.execution import Attempt, Worker
from realtime_runs.models import Run, RunStatus
from tests.engine.conftest import make_run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def own_worker():
    worker = Worker("test")
    yield worker
    worker.stop()


def ready_run(task, payload):
    now = timezone.now()
    # handed_off_at now: no sweep re-hands it off while the test drives it.
    return make_run(task, RunStatus.QUEUED, payload=payload, ready_at=now, handed_off_at=now)


def test_a_run_canceled_right_after_its_claim_never_executes(own_worker, tmp_path):
    ledger = tmp_path / "ledger"
    run = ready_run("test-ledger", {"ledger": str(ledger)})
    run_attempt = own_worker._run_attempt

    def cancel_then_run(run_id):
        engine.cancel(run_id)  # lands between the claim (DEQUEUED) and EXECUTING
        return run_attempt(run_id)

    own_worker._run_attempt = cancel_then_run
    own_worker.execute(run.id)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELED
    assert run.attempt_number == 0
    assert run.output is None
    assert not ledger.exists()


def test_a_run_canceled_before_its_user_code_starts_does_not_run_it(own_worker, tmp_path):
    ledger = tmp_path / "ledger"
    run = ready_run("test-ledger", {"ledger": str(ledger)})
    ensure_ticker = own_worker._ensure_ticker

    def cancel_then_tick():
        # The attempt is registered, its user code not yet entered: what engine.cancel does.
        engine.cancel(run.id)
        own_worker.interrupt(run.id, RunStatus.CANCELED)
        ensure_ticker()

    own_worker._ensure_ticker = cancel_then_tick
    assert own_worker.execute(run.id) == "canceled"
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELED
    assert not ledger.exists()


def test_concurrent_flushes_write_metadata_in_the_order_it_was_set(own_worker, monkeypatch):
    run = make_run("test-echo", RunStatus.EXECUTING, worker_id=own_worker.id)
    ctx = RunContext(run_id=run.id, task_id="test-echo", attempt=1)
    own_worker.running[run.id] = Attempt(ctx=ctx, thread_id=threading.get_ident())

    first_entered, second_flushed = threading.Event(), threading.Event()
    real_write = execution.write_metadata
    calls = []

    def write(run_id, operations):
        calls.append(operations)
        if len(calls) == 1:
            first_entered.set()
            second_flushed.wait(0.5)  # a slow write: the other flush may overtake it
        return real_write(run_id, operations)

    monkeypatch.setattr(execution, "write_metadata", write)
    ctx.apply_metadata([{"type": "set", "key": "stage", "value": "first"}])

    def tick():
        try:
            own_worker.flush_metadata()
        finally:
            connection.close()  # this thread's own connection

    ticker = threading.Thread(target=tick)
    ticker.start()
    assert first_entered.wait(5)
    ctx.apply_metadata([{"type": "set", "key": "stage", "value": "second"}])
    own_worker.flush_metadata(run.id)  # as metadata.flush() in the task does
    second_flushed.set()
    ticker.join(5)
    assert Run.objects.get(pk=run.id).metadata == {"stage": "second"}
    assert ctx.metadata == {"stage": "second"}
