"""The OpenAPI schema, the docs page and ``manage.py create_api_key``."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from realtime_runs.models import ApiKey
from tests.api.support import RUNS

pytestmark = pytest.mark.django_db

PATHS = {
    "/api/v1/tasks/{task_id}/trigger": "post",
    "/api/v1/tasks/batch": "post",
    "/api/v3/runs/{run_id}": "get",
    "/api/v1/runs": "get",
    "/api/v2/runs/{run_id}/cancel": "post",
    "/api/v1/runs/{run_id}/replay": "post",
    "/api/v1/runs/{run_id}/metadata": "put",
}


@pytest.fixture
def schema():
    response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def test_schema_is_openapi_with_the_api_paths(schema):
    assert schema["openapi"].startswith("3.")
    for path, method in PATHS.items():
        assert method in schema["paths"].get(path, {}), path
    trigger = schema["paths"]["/api/v1/tasks/{task_id}/trigger"]["post"]
    assert "application/json" in trigger["requestBody"]["content"]
    assert {"200", "400", "401", "404", "413"} <= set(trigger["responses"])


def test_schema_documents_the_secret_key(schema):
    schemes = schema["components"]["securitySchemes"]
    bearer = [name for name, s in schemes.items() if s == {"type": "http", "scheme": "bearer"}]
    assert bearer, schemes
    trigger = schema["paths"]["/api/v1/tasks/{task_id}/trigger"]["post"]
    assert any(bearer[0] in requirement for requirement in trigger["security"])


def test_schema_says_durations_may_be_numbers(schema):
    options = schema["components"]["schemas"]["TriggerOptions"]["properties"]
    for name in ("ttl", "maxDuration", "idempotencyKeyTTL", "delay"):
        types = {alt.get("type") for alt in options[name]["oneOf"]}
        assert {"string", "number"} <= types, (name, options[name])


def test_schema_generates_without_warnings_and_validates(tmp_path):
    out = tmp_path / "schema.json"
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", "--file", out
    )
    assert "/api/v1/runs" in json.loads(out.read_text())["paths"]


def test_docs_page_renders():
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger" in html.lower()
    assert "/api/schema/" in html


def test_create_api_key_prints_one_key_that_authenticates():
    out = io.StringIO()
    call_command("create_api_key", "--name", "x", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    key = lines[0].strip()
    assert key.startswith("rr_sk_")
    stored = ApiKey.objects.get(name="x")
    assert key not in (stored.lookup, stored.digest)  # stored hashed, not as given
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get(RUNS).status_code == 200
    stored.revoke()
    assert client.get(RUNS).status_code == 401


def test_create_api_key_makes_a_new_key_each_time():
    keys = set()
    for _ in range(2):
        out = io.StringIO()
        call_command("create_api_key", "--name", "same", stdout=out)
        keys.add(out.getvalue().strip())
    assert len(keys) == 2
    assert ApiKey.objects.filter(name="same").count() == 2


def test_create_api_key_needs_a_name():
    with pytest.raises(CommandError):
        call_command("create_api_key", stdout=io.StringIO())
