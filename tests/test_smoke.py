from realtime_runs.models import RunStatus
from realtime_runs.sdk import runs, tasks
from tests.conftest import wait_for_status


def test_demo_progress_runs_to_completion(worker):
    handle = tasks.trigger("demo-progress", {"steps": 4, "delay": 0.01}, tags=["user-1"])
    run = wait_for_status(handle.id, RunStatus.COMPLETED)
    assert run.metadata["progress"] == 100
    assert run.output == {"steps": 4}
    assert runs.retrieve(handle.id).to_dict()["isSuccess"] is True
