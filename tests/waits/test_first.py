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
        "success": True,
        "alreadyCompleted": False,
    }
    run = wait_for_status(handle.id, RunStatus.COMPLETED)
    assert run.output == {"approved": True}
    assert run.attempt_number == 1
    assert wait.complete_token(token_id, {"approved": False})["alreadyCompleted"] is True


def test_rest_completion_with_a_write_token_resumes_the_run(worker, api):
    from rest_framework.test import APIClient

    handle = tasks.trigger("demo-approval", {"timeout": "1h"})
    wait_for_status(handle.id, RunStatus.WAITING)
    token_id = wait_for(lambda: runs.retrieve(handle.id).metadata.get("waitTokenId"))
    other = wait.create_token(timeout="1h")
    browser = APIClient()
    browser.credentials(HTTP_AUTHORIZATION=f"Bearer {other.public_access_token}")
    url = f"/api/v1/waitpoints/tokens/{token_id}/complete"
    refused = browser.post(url, {"data": {"approved": True}}, format="json")
    assert refused.status_code == 403, refused.json()
    mine = wait.TokenHandle(token_id)
    browser.credentials(HTTP_AUTHORIZATION=f"Bearer {mine.public_access_token}")
    missing = browser.post(url, {"approved": True}, format="json")
    assert missing.status_code == 400 and "data" in missing.json()["fields"]
    assert runs.retrieve(handle.id).status == RunStatus.WAITING
    done = browser.post(url, {"data": {"approved": True}}, format="json")
    assert done.json() == {"success": True, "alreadyCompleted": False}
    run = wait_for_status(handle.id, RunStatus.COMPLETED)
    assert run.output == {"approved": True}
    shown = api.get(f"/api/v1/waitpoints/tokens/{token_id}").json()
    assert shown["status"] == "COMPLETED" and shown["output"] == {"approved": True}
    assert shown["completedBy"]["type"] == "publicAccessToken"


@pytest.mark.parametrize("body", [[1, 2], "approved", 7])
def test_completing_with_a_body_that_is_not_an_object_is_a_400(api, body):
    token = wait.create_token()
    response = api.post(f"/api/v1/waitpoints/tokens/{token.id}/complete", body, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert wait.retrieve_token(token.id).status == "WAITING"


def test_listing_wait_tokens_filters_and_pages(api):
    made = [wait.create_token(tags=["inbox"]) for _ in range(3)]
    wait.create_token(tags=["other"])
    wait.complete_token(made[0].id, {"approved": True})
    seen, after = [], None
    while True:
        params = {
            "filter[tags]": "inbox",
            "page[size]": 1,
            **({"page[after]": after} if after else {}),
        }
        page = api.get("/api/v1/waitpoints/tokens", params).json()
        seen += [token["id"] for token in page["data"]]
        after = page["pagination"]["next"]
        if after is None:
            break
    assert seen == [t.id for t in reversed(made)]  # newest first, each once
    waiting = api.get(
        "/api/v1/waitpoints/tokens", {"filter[status]": "WAITING", "filter[tags]": "inbox"}
    ).json()["data"]
    assert {t["id"] for t in waiting} == {made[1].id, made[2].id}
    done = api.get(f"/api/v1/waitpoints/tokens/{made[0].id}").json()
    # Completed from backend code: no user, key or token to name.
    assert done["status"] == "COMPLETED" and done["output"] == {"approved": True}
    assert done["completedBy"] is None
    assert api.get("/api/v1/waitpoints/tokens", {"filter[nope]": 1}).status_code == 400
    assert api.get("/api/v1/waitpoints/tokens", {"page[after]": "waitpoint_x"}).status_code == 400
