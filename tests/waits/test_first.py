import pytest

from realtime_runs.models import RunStatus
from realtime_runs.sdk import runs, tasks, wait
from tests.conftest import wait_for, wait_for_status

pytestmark = pytest.mark.django_db(transaction=True)


def test_demo_approval_waits_then_completes_after_approval(worker):
    handle = tasks.trigger("demo-approval", {"timeout": "1h"})
    run = wait_for_status(handle.id, RunStatus.WAITING)
    token_id = wait_for(lambda: runs.retrieve(handle.id).metadata.get("waitTokenId"))
    assert run.worker_id == ""
    assert wait.complete_token(token_id, {"approved": True}) == {
        "success": True, "alreadyCompleted": False}
    run = wait_for_status(handle.id, RunStatus.COMPLETED)
    assert run.output == {"approved": True}
    assert run.attempt_number == 1
    assert wait.complete_token(token_id, {"approved": False})["alreadyCompleted"] is True
