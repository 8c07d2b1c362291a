"""PUT /api/v1/runs/{id}/metadata."""

from datetime import timedelta

import pytest
from django.utils import timezone

from realtime_runs.models import Run, RunStatus
from tests.api.support import METADATA, RUN, KiB, assert_error, triggered

pytestmark = pytest.mark.django_db


def put(api, run_id, body):
    return api.put(METADATA.format(run_id), body, format="json")


@pytest.fixture
def run(api):
    return triggered(api, "test-echo", None, metadata={"keep": 1, "count": 5, "log": ["a"]})


def test_operations_are_applied_and_returned(api, run):
    operations = [
        {"type": "set", "key": "progress", "value": 50},
        {"type": "increment", "key": "count", "value": 2},
        {"type": "decrement", "key": "count"},
        {"type": "increment", "key": "fresh"},
        {"type": "append", "key": "log", "value": "b"},
        {"type": "append", "key": "log", "value": "a"},
        {"type": "remove", "key": "log", "value": "a"},
        {"type": "set", "key": "$.nested.steps[0]", "value": {"done": True}},
        {"type": "delete", "key": "keep"},
    ]
    version = Run.objects.get(pk=run.id).version
    response = put(api, run.id, {"operations": operations})
    assert response.status_code == 200, response.content
    expected = {
        "progress": 50,
        "count": 6,
        "fresh": 1,
        "log": ["b"],
        "nested": {"steps": [{"done": True}]},
    }
    assert response.json() == {"metadata": expected}
    stored = Run.objects.get(pk=run.id)
    assert stored.metadata == expected
    assert stored.version > version
    assert api.get(RUN.format(run.id)).json()["metadata"] == expected


def test_replace_with_metadata(api, run):
    response = put(api, run.id, {"metadata": {"only": "this"}})
    assert response.json() == {"metadata": {"only": "this"}}
    assert Run.objects.get(pk=run.id).metadata == {"only": "this"}
    response = put(api, run.id, {"operations": [{"type": "replace", "value": {"r": 1}}]})
    assert response.json() == {"metadata": {"r": 1}}


@pytest.mark.parametrize(
    "operations",
    [
        [{"type": "set", "key": "ok", "value": 1}, {"type": "explode", "key": "x"}],
        [{"type": "set", "value": 1}],
        [{"type": "set", "key": "x"}],
        [{"type": "increment", "key": "count", "value": "two"}],
        [{"type": "replace", "value": [1, 2]}],
        [{"type": "set", "key": "$.bad..path", "value": 1}],
        ["set"],
        [],
        {"type": "set"},
    ],
)
def test_bad_operations_are_400_and_change_nothing(api, run, operations):
    before = Run.objects.get(pk=run.id)
    assert_error(put(api, run.id, {"operations": operations}), 400, "invalid")
    after = Run.objects.get(pk=run.id)
    assert after.metadata == before.metadata == {"keep": 1, "count": 5, "log": ["a"]}
    assert after.version == before.version


@pytest.mark.parametrize("body", [{}, {"ops": []}, []])
def test_body_without_operations_is_400(api, run, body):
    assert_error(put(api, run.id, body), 400, "invalid")
    assert Run.objects.get(pk=run.id).metadata == {"keep": 1, "count": 5, "log": ["a"]}


def test_metadata_over_256_kib_is_413_and_unchanged(api, run):
    big = {"type": "set", "key": "blob", "value": "x" * (256 * KiB)}
    body = assert_error(put(api, run.id, {"operations": [big]}), 413, "metadata_too_large")
    assert "262144" in body["error"]
    assert Run.objects.get(pk=run.id).metadata == {"keep": 1, "count": 5, "log": ["a"]}


def test_metadata_of_a_run_finished_over_an_hour_ago_is_read_only(api, run):
    Run.objects.filter(pk=run.id).update(
        status=RunStatus.COMPLETED, finished_at=timezone.now() - timedelta(hours=1, minutes=1)
    )
    body = assert_error(
        put(api, run.id, {"operations": [{"type": "set", "key": "late", "value": 1}]}),
        422,
        "metadata_read_only",
    )
    assert run.id in body["error"]
    assert Run.objects.get(pk=run.id).metadata == {"keep": 1, "count": 5, "log": ["a"]}


def test_metadata_of_a_run_finished_within_the_hour_is_writable(api, run):
    Run.objects.filter(pk=run.id).update(
        status=RunStatus.COMPLETED, finished_at=timezone.now() - timedelta(minutes=59)
    )
    response = put(api, run.id, {"operations": [{"type": "set", "key": "late", "value": 1}]})
    assert response.status_code == 200, response.content
    assert Run.objects.get(pk=run.id).metadata["late"] == 1


def test_metadata_of_an_unknown_run_is_404(api):
    body = {"operations": [{"type": "set", "key": "a", "value": 1}]}
    assert_error(put(api, "run_missing", body), 404, "run_not_found")
