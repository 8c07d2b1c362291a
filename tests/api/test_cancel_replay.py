"""POST /api/v2/runs/{id}/cancel and POST /api/v1/runs/{id}/replay."""

from datetime import timedelta

import pytest
from django.utils import timezone

from realtime_runs.models import Run, RunStatus, RunTag
from tests.api.support import CANCEL, REPLAY, RUN, assert_error, row_counts, triggered
from tests.conftest import wait_for, wait_for_status

# -- cancel ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_cancel_a_queued_run_is_immediate(api):
    run = triggered(api, "test-echo")
    assert run.status == RunStatus.QUEUED
    response = api.post(CANCEL.format(run.id))
    assert response.status_code == 200, response.content
    assert response.json()["id"] == run.id
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELED
    assert run.finished_at is not None
    body = api.get(RUN.format(run.id)).json()
    assert body["status"] == "CANCELED"
    assert body["isCancelled"] is body["isFinished"] is True
    assert body["isFailed"] is False


@pytest.mark.django_db
def test_cancel_a_delayed_run(api):
    run = triggered(api, "test-echo", delay="1h")
    assert run.status == RunStatus.DELAYED
    assert api.post(CANCEL.format(run.id)).status_code == 200
    assert Run.objects.get(pk=run.id).status == RunStatus.CANCELED


def test_cancel_a_running_run_stops_it(api, worker):
    run = triggered(api, "test-sleep", {"seconds": 30})
    wait_for_status(run.id, RunStatus.EXECUTING)
    response = api.post(CANCEL.format(run.id))
    assert response.status_code == 200, response.content
    assert Run.objects.get(pk=run.id).status == RunStatus.CANCELED
    # The attempt ends (and records its compute time) long before its 30 s sleep would.
    wait_for(lambda: Run.objects.get(pk=run.id).duration_ms > 0, timeout=10)
    final = Run.objects.get(pk=run.id)
    assert final.status == RunStatus.CANCELED
    assert final.output is None
    assert final.duration_ms < 10_000


@pytest.mark.django_db
def test_cancel_a_completed_run_is_422_and_it_stays_completed(api):
    run = triggered(api, "test-echo")
    finished = timezone.now() - timedelta(seconds=5)
    Run.objects.filter(pk=run.id).update(
        status=RunStatus.COMPLETED, output={"done": 1}, finished_at=finished
    )
    version = Run.objects.get(pk=run.id).version
    body = assert_error(api.post(CANCEL.format(run.id)), 422, "run_finished")
    assert "COMPLETED" in body["error"]
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert run.output == {"done": 1}
    assert run.finished_at == finished
    assert run.version == version


@pytest.mark.django_db
@pytest.mark.parametrize("status", [RunStatus.FAILED, RunStatus.EXPIRED, RunStatus.TIMED_OUT])
def test_cancel_other_final_runs_is_422(api, status):
    run = triggered(api, "test-echo")
    Run.objects.filter(pk=run.id).update(status=status, finished_at=timezone.now())
    assert_error(api.post(CANCEL.format(run.id)), 422)
    assert Run.objects.get(pk=run.id).status == status


@pytest.mark.django_db
def test_cancel_a_canceled_run_again_is_a_200_no_op(api):
    run = triggered(api, "test-echo")
    assert api.post(CANCEL.format(run.id)).status_code == 200
    run.refresh_from_db()
    response = api.post(CANCEL.format(run.id))
    assert response.status_code == 200, response.content
    assert response.json()["id"] == run.id
    again = Run.objects.get(pk=run.id)
    assert again.status == RunStatus.CANCELED
    assert again.version == run.version
    assert again.finished_at == run.finished_at


@pytest.mark.django_db
def test_cancel_an_unknown_run_is_404(api):
    assert_error(api.post(CANCEL.format("run_missing")), 404, "run_not_found")


# -- replay ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_replay_makes_a_new_run_with_the_same_task_payload_and_tags(api):
    original = triggered(api, "test-context", {"deep": {"x": [1]}}, tags=["t1", "t2"])
    api.post(CANCEL.format(original.id))
    response = api.post(REPLAY.format(original.id))
    assert response.status_code == 200, response.content
    new_id = response.json()["id"]
    assert new_id != original.id and new_id.startswith("run_")
    assert Run.objects.count() == 2
    new = Run.objects.get(pk=new_id)
    assert new.task_identifier == "test-context"
    assert new.payload == {"deep": {"x": [1]}}
    assert new.tags == ["t1", "t2"]
    assert sorted(RunTag.objects.filter(run=new).values_list("name", flat=True)) == ["t1", "t2"]
    assert new.status == RunStatus.QUEUED
    assert new.number == 2
    assert new.replayed_from_id == original.id
    assert Run.objects.get(pk=original.id).status == RunStatus.CANCELED


@pytest.mark.django_db
def test_replay_of_a_run_with_an_idempotency_key_is_still_a_new_run(api):
    original = triggered(api, "test-echo", 1, idempotencyKey="only-once")
    first = api.post(REPLAY.format(original.id)).json()["id"]
    second = api.post(REPLAY.format(original.id)).json()["id"]
    assert len({original.id, first, second}) == 3


@pytest.mark.django_db
def test_replay_of_an_unknown_run_is_404_and_creates_nothing(api):
    before = row_counts()
    assert_error(api.post(REPLAY.format("run_missing")), 404, "run_not_found")
    assert row_counts() == before


def test_replayed_run_executes(api, worker):
    original = triggered(api, "test-echo", {"again": True})
    wait_for_status(original.id, RunStatus.COMPLETED)
    new_id = api.post(REPLAY.format(original.id)).json()["id"]
    assert wait_for_status(new_id, RunStatus.COMPLETED).output == {"again": True}
