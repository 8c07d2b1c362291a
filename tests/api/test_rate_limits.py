import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from realtime_runs.models import Run
from realtime_runs.sdk import auth


@pytest.fixture
def three_a_minute(monkeypatch):
    from realtime_runs.api.throttling import CredentialRateThrottle

    cache.clear()
    monkeypatch.setattr(CredentialRateThrottle, "THROTTLE_RATES", {"credential": "3/min"})
    yield
    cache.clear()


def test_past_the_rate_a_key_gets_429_with_retry_after(api, three_a_minute):
    for _ in range(3):
        assert api.get("/api/v1/runs").status_code == 200
    refused = api.get("/api/v1/runs")
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert int(refused["Retry-After"]) > 0


def test_each_credential_has_its_own_budget(api, three_a_minute, db):
    for _ in range(3):
        api.get("/api/v1/runs")
    assert api.get("/api/v1/runs").status_code == 429
    browser = APIClient()
    browser.credentials(
        HTTP_AUTHORIZATION=f"Bearer {auth.create_trigger_public_token('test-echo')}"
    )
    before = Run.objects.count()
    assert browser.post("/api/v1/tasks/test-echo/trigger", {}, format="json").status_code == 200
    assert Run.objects.count() == before + 1
