import pytest
from django.contrib.auth import get_user_model

from realtime_runs.models import RunStatus, WaitToken
from realtime_runs.sdk import runs, tasks
from tests.conftest import wait_for, wait_for_status


@pytest.fixture
def staff(client, db):
    user = get_user_model().objects.create_user("ops", password="pw", is_staff=True)
    client.force_login(user)
    return user


@pytest.fixture
def member(client, db):
    user = get_user_model().objects.create_user("member", password="pw")
    client.force_login(user)
    return user


def test_home_lists_the_registered_tasks(client, db):
    page = client.get("/").content.decode()
    assert "demo-progress" in page and "create_api_key" in page


@pytest.mark.parametrize("path", ["/runs/", "/approvals/", "/runs/run_x/"])
def test_staff_pages_send_others_to_sign_in(client, member, path):
    response = client.get(path)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_run_list_filters_and_links_each_run(client, staff):
    mine = tasks.trigger("test-echo", {}, tags=["user-7"])
    other = tasks.trigger("test-echo", {}, tags=["user-8"])
    page = client.get("/runs/?tag=user-7").content.decode()
    assert f"/runs/{mine.id}/" in page and other.id not in page
    detail = client.get(f"/runs/{mine.id}/").content.decode()
    assert mine.id in detail and "&quot;taskIdentifier&quot;: &quot;test-echo&quot;" in detail
    assert client.get("/runs/run_missing/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_an_approver_clicks_approve_and_the_waiting_run_goes_on(client, staff, worker):
    handle = tasks.trigger("demo-approval", {"timeout": "1h"})
    wait_for_status(handle.id, RunStatus.WAITING)
    token_id = wait_for(lambda: runs.retrieve(handle.id).metadata.get("waitTokenId"))
    inbox = client.get("/approvals/").content.decode()
    assert token_id in inbox and handle.id in inbox
    response = client.post(f"/approvals/{token_id}/decide", {"decision": "approve"})
    assert response.status_code == 302
    run = wait_for_status(handle.id, RunStatus.COMPLETED)
    assert run.output == {"approved": True}
    token = WaitToken.objects.get(pk=token_id)
    assert token.completed_by_user == staff and token.output["by"] == "ops"
    again = client.post(f"/approvals/{token_id}/decide", {"decision": "reject"}, follow=True)
    assert "already decided" in again.content.decode()
    assert WaitToken.objects.get(pk=token_id).output["approved"] is True


def test_deciding_needs_a_post(client, staff):
    token = WaitToken.objects.create()
    assert client.get(f"/approvals/{token.id}/decide").status_code == 405
    assert WaitToken.objects.get(pk=token.id).status == "WAITING"
