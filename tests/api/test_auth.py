"""Secret API keys (CONTRACT.md §2): missing, malformed, wrong and revoked keys are 401s."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from realtime_runs.models import ApiKey
from tests.api.support import RUNS, TRIGGER, assert_error, row_counts

pytestmark = pytest.mark.django_db


def client(authorization=None):
    c = APIClient()
    if authorization is not None:
        c.credentials(HTTP_AUTHORIZATION=authorization)
    return c


def post_trigger(c):
    return c.post(TRIGGER.format("test-echo"), {"payload": {"a": 1}}, format="json")


def test_no_authorization_header_is_401_and_creates_nothing():
    before = row_counts()
    response = post_trigger(client())
    body = assert_error(response, 401, "unauthorized")
    assert "Authorization" in body["error"]
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert row_counts() == before


@pytest.mark.parametrize("header", ["Token abc", "Basic dXNlcjpwYXNz", "Bearer", "Bearer   "])
def test_malformed_authorization_header_is_401_and_creates_nothing(header):
    before = row_counts()
    body = assert_error(post_trigger(client(header)), 401, "unauthorized")
    assert "Malformed" in body["error"]
    assert row_counts() == before


def test_wrong_key_is_401_invalid_api_key(api_key):
    before = row_counts()
    wrong = "rr_sk_" + "x" * 43
    body = assert_error(post_trigger(client(f"Bearer {wrong}")), 401, "unauthorized")
    assert body["error"] == "Invalid API key."
    assert row_counts() == before


def test_key_with_the_right_lookup_prefix_but_wrong_secret_is_refused(api_key):
    """The lookup prefix only narrows the search: the whole secret must match its digest."""
    forged = api_key[:-4] + ("AAAA" if not api_key.endswith("AAAA") else "BBBB")
    before = row_counts()
    body = assert_error(post_trigger(client(f"Bearer {forged}")), 401, "unauthorized")
    assert body["error"] == "Invalid API key."
    assert row_counts() == before


def test_revoked_key_is_401_saying_it_was_revoked(api_key):
    key = ApiKey.objects.authenticate(api_key)
    assert post_trigger(client(f"Bearer {api_key}")).status_code == 200
    key.revoke()
    before = row_counts()
    body = assert_error(post_trigger(client(f"Bearer {api_key}")), 401, "unauthorized")
    assert "revoked" in body["error"].lower()
    assert row_counts() == before


def test_valid_key_is_accepted_and_its_use_recorded(api_key):
    assert ApiKey.objects.get().last_used_at is None
    response = client(f"Bearer {api_key}").get(RUNS)
    assert response.status_code == 200, response.content
    assert ApiKey.objects.get().last_used_at is not None


def test_every_endpoint_needs_credentials():
    c = client()
    for method, path in [
        ("get", RUNS),
        ("get", "/api/v3/runs/run_x"),
        ("post", "/api/v1/tasks/batch"),
        ("post", "/api/v2/runs/run_x/cancel"),
        ("post", "/api/v1/runs/run_x/replay"),
        ("put", "/api/v1/runs/run_x/metadata"),
    ]:
        assert_error(getattr(c, method)(path, {}, format="json"), 401, "unauthorized")


def test_staff_session_may_use_the_api_and_other_users_may_not():
    User = get_user_model()
    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    other = User.objects.create_user("other", password="pw")
    c = client()
    c.force_login(other)
    assert_error(c.get(RUNS), 403, "forbidden")
    c.force_login(staff)
    assert c.get(RUNS).status_code == 200
