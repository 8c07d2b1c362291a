"""Helpers for the REST API tests."""

import json

from realtime_runs.models import Batch, Run, RunTag, TaskCounter

TRIGGER = "/api/v1/tasks/{}/trigger"
BATCH = "/api/v1/tasks/batch"
RUN = "/api/v3/runs/{}"
RUNS = "/api/v1/runs"
CANCEL = "/api/v2/runs/{}/cancel"
REPLAY = "/api/v1/runs/{}/replay"
METADATA = "/api/v1/runs/{}/metadata"

MiB = 1024 * 1024
KiB = 1024


def row_counts():
    """Rows a request could create; a refused request must leave all of them as they were."""
    return {
        "runs": Run.objects.count(),
        "tags": RunTag.objects.count(),
        "batches": Batch.objects.count(),
        "counters": TaskCounter.objects.count(),
    }


def trigger(api, task="test-echo", payload=None, **options):
    body = {"payload": payload}
    if options:
        body["options"] = options
    return api.post(TRIGGER.format(task), body, format="json")


def triggered(api, task="test-echo", payload=None, **options) -> Run:
    """Trigger through the API, insist on success, return the stored run."""
    response = trigger(api, task, payload, **options)
    assert response.status_code == 200, response.content
    return Run.objects.get(pk=response.json()["id"])


def post_raw(api, path, text):
    return api.post(path, data=text, content_type="application/json")


def assert_error(response, status, code=None):
    """The one error shape of CONTRACT.md §3: ``{"error": "<message>", "code": "<code>"}``."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    assert isinstance(body.get("code"), str) and body["code"], body
    if code is not None:
        assert body["code"] == code, body
    return body


def json_size(value):
    return len(json.dumps(value, separators=(",", ":")).encode())
