import socket

import pytest
from django.utils import timezone

from realtime_runs.conf import runs_settings
from realtime_runs.engine.executors.inline import InlineExecutor
from realtime_runs.models import Run, RunStatus
from realtime_runs.sdk import tasks
from tests.conftest import wait_for, wait_for_status

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_attempt_whose_run_ended_elsewhere_still_counts_its_time_and_metadata(worker):
    handle = tasks.trigger("test-ends-elsewhere")
    wait_for_status(handle.id, RunStatus.CANCELED)
    run = wait_for(lambda: (r := Run.objects.get(pk=handle.id)).duration_ms > 0 and r)
    assert run.duration_ms >= 50
    assert run.metadata == {"wrote": True}
    assert run.output is None  # the output of a canceled run is not kept


@pytest.mark.skipif(runs_settings.EXECUTOR != "inline", reason="the inline executor's start-up")
def test_start_up_recovery_skips_worker_ids_it_did_not_write(db):
    run = Run.objects.create(
        task_identifier="test-echo",
        number=1,
        status=RunStatus.EXECUTING,
        attempt_number=1,
        worker_id=f"inline:{socket.gethostname()}:not-a-pid",
        heartbeat_at=timezone.now(),
    )
    InlineExecutor()._recover_dead_local_workers()  # must not raise
    assert Run.objects.get(pk=run.pk).status == RunStatus.EXECUTING


def test_deleting_a_running_run_stops_its_code_and_frees_the_slot(worker):
    from realtime_runs.models import Run as RunModel

    handle = tasks.trigger("test-sleep", {"seconds": 60})
    wait_for_status(handle.id, RunStatus.EXECUTING)
    RunModel.objects.filter(pk=handle.id).delete()
    if runs_settings.EXECUTOR == "inline":
        from realtime_runs.engine.execution import get_worker

        wait_for(
            lambda: handle.id not in get_worker().running, timeout=10, message="the attempt to stop"
        )
    # However the executor runs, the slots are free again: every one can take a new run.
    echoes = [tasks.trigger("test-echo", {"n": n}).id for n in range(runs_settings.INLINE_WORKERS)]
    for run_id in echoes:
        wait_for_status(run_id, RunStatus.COMPLETED, timeout=10)
