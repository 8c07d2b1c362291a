"""PostgreSQL cannot store the NUL character: every way of sending one is a clear 400 there
and here alike, never a database error."""

import pytest

from realtime_runs.models import Run, RunStatus
from realtime_runs.sdk import tasks, wait
from tests.conftest import wait_for_status


def test_a_payload_with_nul_is_a_400_and_creates_nothing(api):
    response = api.post(
        "/api/v1/tasks/test-echo/trigger", {"payload": {"t": "a\x00b"}}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "NUL" in response.json()["fields"]["payload"][0]
    assert Run.objects.count() == 0


def test_metadata_with_nul_is_a_400_and_changes_nothing(api):
    run_id = tasks.trigger("test-echo", {}, metadata={"a": 1}).id
    response = api.put(
        f"/api/v1/runs/{run_id}/metadata",
        {"operations": [{"type": "set", "key": "k\x00", "value": 1}]},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert Run.objects.get(pk=run_id).metadata == {"a": 1}


def test_a_run_id_with_nul_is_a_404(api):
    assert api.get("/api/v3/runs/run_%00x").status_code == 404


def test_wait_data_with_nul_is_a_400_and_the_token_stays_open(api):
    token = wait.create_token()
    response = api.post(
        f"/api/v1/waitpoints/tokens/{token.id}/complete", {"data": "a\x00"}, format="json"
    )
    assert response.status_code == 400
    assert wait.retrieve_token(token.id).status == "WAITING"


@pytest.mark.django_db(transaction=True)
def test_an_output_with_nul_fails_the_run_with_a_clear_error(worker):
    run = wait_for_status(tasks.trigger("test-nul-output").id, RunStatus.FAILED)
    assert "NUL" in run.error["message"]


def test_a_payload_with_an_unpaired_surrogate_is_a_400(api):
    response = api.generic(
        "POST",
        "/api/v1/tasks/test-echo/trigger",
        '{"payload": "\\ud800"}',
        content_type="application/json",
    )
    assert response.status_code == 400, response.content
    assert "Unicode" in response.json()["fields"]["payload"][0]
    assert Run.objects.count() == 0
