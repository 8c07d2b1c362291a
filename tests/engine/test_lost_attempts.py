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
