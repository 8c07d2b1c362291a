"""Real Celery worker processes, the real Redis broker and the real PostgreSQL database."""

import os
from collections import Counter

import pytest

from realtime_runs.models import Run, RunStatus
from realtime_runs.sdk import tasks
from tests.conftest import wait_for, wait_for_status
from tests.support.celery_workers import CeleryWorker

pytestmark = pytest.mark.celery


@pytest.fixture
def own_workers(transactional_db, celery_workers, tmp_path):
    """Start workers of this test's own; stops them (and the shared one, first) around it."""
    celery_workers.stop()
    started = []

    def start(name, concurrency=2):
        worker = CeleryWorker(name, concurrency=concurrency, log_dir=tmp_path).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def ledger_lines(path):
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def test_run_triggered_through_rest_is_executed_by_a_worker_process(api, own_workers, tmp_path):
    worker = own_workers("a")
    ledger = tmp_path / "ledger"
    response = api.post(
        "/api/v1/tasks/test-ledger/trigger", {"payload": {"ledger": str(ledger)}}, format="json"
    )
    assert response.status_code == 200, response.json()
    run = wait_for_status(response.json()["id"], RunStatus.COMPLETED)
    assert run.output == {"attempt": 1}
    [(run_id, attempt, pid)] = ledger_lines(ledger)
    assert (run_id, attempt) == (run.id, "1")
    assert int(pid) != os.getpid()
    assert run.worker_id.startswith("celery:")
    assert worker.process.poll() is None


def test_sigkilled_worker_leads_to_a_retry_on_another_worker(own_workers, tmp_path):
    victim = own_workers("victim")
    ledger = tmp_path / "ledger"
    handle = tasks.trigger("test-sleep-retry", {"ledger": str(ledger), "seconds": 60})
    wait_for(lambda: len(ledger_lines(ledger)) == 1, message="the first attempt to start")
    victim.kill()
    own_workers("survivor")
    run = wait_for_status(handle.id, RunStatus.COMPLETED, timeout=30)
    attempts = ledger_lines(ledger)
    assert [a[1] for a in attempts] == ["1", "2"]
    assert attempts[0][2] != attempts[1][2]  # another process ran the retry
    assert run.attempt_number == 2
    assert run.output == {"attempt": 2}


def test_sigkilled_worker_past_its_attempts_leaves_the_run_crashed(own_workers):
    victim = own_workers("victim")
    handle = tasks.trigger("test-sleep", {"seconds": 60})  # max_attempts=1
    wait_for_status(handle.id, RunStatus.EXECUTING)
    victim.kill()
    own_workers("survivor")
    run = wait_for_status(handle.id, RunStatus.CRASHED, timeout=30)
    assert run.error["name"] == "WorkerCrashedError"
    assert run.finished_at is not None


def test_two_workers_execute_every_attempt_exactly_once(own_workers, tmp_path):
    own_workers("one")
    own_workers("two")
    ledger = tmp_path / "ledger"
    batch = tasks.batch_trigger(
        "test-ledger", [{"payload": {"ledger": str(ledger)}} for _ in range(300)]
    )
    ids = {handle.id for handle in batch.runs}

    def all_done():
        return Run.objects.filter(pk__in=ids, status=RunStatus.COMPLETED).count() == len(ids)

    wait_for(all_done, timeout=90, interval=0.2, message="300 runs to complete")
    lines = ledger_lines(ledger)
    per_run = Counter(run_id for run_id, _, _ in lines)
    assert set(per_run) == ids
    assert set(per_run.values()) == {1}, "an attempt ran twice"
    assert len({pid for _, _, pid in lines}) > 1, "both workers took part"


def test_a_waiting_run_holds_no_worker_slot(own_workers, tmp_path):
    from realtime_runs.sdk import runs, wait

    own_workers("single", concurrency=1)
    approval = tasks.trigger("demo-approval", {"timeout": "1h"})
    wait_for_status(approval.id, RunStatus.WAITING)
    ledger = tmp_path / "ledger"
    other = tasks.trigger("test-ledger", {"ledger": str(ledger)})
    wait_for_status(other.id, RunStatus.COMPLETED)  # the only slot was free
    token_id = runs.retrieve(approval.id).metadata["waitTokenId"]
    assert runs.retrieve(approval.id).status == RunStatus.WAITING
    wait.complete_token(token_id, {"approved": True})
    assert wait_for_status(approval.id, RunStatus.COMPLETED).output == {"approved": True}


def test_killing_and_restarting_the_worker_while_a_run_waits_changes_nothing(own_workers):
    from realtime_runs.sdk import runs, wait

    first = own_workers("before")
    approval = tasks.trigger("demo-approval", {"timeout": "1h"})
    wait_for_status(approval.id, RunStatus.WAITING)
    token_id = wait_for(lambda: runs.retrieve(approval.id).metadata.get("waitTokenId"))
    first.kill()
    own_workers("after")
    wait.complete_token(token_id, {"approved": False})
    run = wait_for_status(approval.id, RunStatus.COMPLETED)
    assert run.output == {"approved": False}
    assert run.attempt_number == 1
