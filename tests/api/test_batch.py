"""POST /api/v1/tasks/batch: all or nothing."""

import pytest

from realtime_runs.models import Batch, Run, RunTag
from tests.api.support import BATCH, RUN, KiB, assert_error, row_counts

pytestmark = pytest.mark.django_db


def batch(api, items):
    return api.post(BATCH, {"items": items}, format="json")


def test_batch_creates_runs_sharing_the_batch_id(api):
    items = [
        {"task": "test-echo", "payload": {"i": 0}},
        {"task": "test-context", "payload": {"i": 1}, "options": {"tags": ["b"]}},
        {"task": "test-echo", "payload": {"i": 2}},
    ]
    response = batch(api, items)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"].startswith("batch_")
    assert Batch.objects.filter(pk=body["id"]).exists()
    assert len(body["runs"]) == 3 and len(set(body["runs"])) == 3
    for run_id, item in zip(body["runs"], items, strict=True):
        run = Run.objects.get(pk=run_id)
        assert run.batch_id == body["id"]
        assert run.task_identifier == item["task"]
        assert run.payload == item["payload"]
        assert api.get(RUN.format(run_id)).json()["batchId"] == body["id"]
    assert Run.objects.get(pk=body["runs"][1]).tags == ["b"]
    assert RunTag.objects.count() == 1


def test_batch_numbers_runs_per_task(api):
    response = batch(api, [{"task": "test-echo"}, {"task": "test-echo"}, {"task": "test-context"}])
    numbers = [Run.objects.get(pk=r).number for r in response.json()["runs"]]
    assert numbers == [1, 2, 1]


@pytest.mark.parametrize(
    "bad_item, field",
    [
        ({"task": "test-echo", "options": {"tags": [f"t{i}" for i in range(11)]}}, "tags"),
        ({"task": "test-echo", "options": {"ttl": "whenever"}}, "ttl"),
        ({"task": "test-echo", "options": {"nope": 1}}, "nope"),
        ({"task": "test-echo", "extra": 1}, "extra"),
        ({"payload": 1}, "task"),
        ("test-echo", None),
    ],
)
def test_one_bad_item_rejects_the_whole_batch(api, bad_item, field):
    before = row_counts()
    items = [{"task": "test-echo", "payload": 1, "options": {"tags": ["good"]}}, bad_item]
    body = assert_error(batch(api, items), 400, "invalid")
    assert any(name.startswith("items[1]") for name in body["fields"]), body
    if field:
        assert any(name.endswith(field) for name in body["fields"]), body
    assert row_counts() == before
    assert Run.objects.count() == 0 and Batch.objects.count() == 0 and RunTag.objects.count() == 0


def test_item_with_metadata_too_large_rejects_the_whole_batch(api):
    before = row_counts()
    items = [
        {"task": "test-echo"},
        {"task": "test-echo", "options": {"metadata": {"x": "y" * (256 * KiB)}}},
    ]
    assert_error(batch(api, items), 413, "metadata_too_large")
    assert row_counts() == before


def test_unknown_task_in_an_item_is_404_and_creates_nothing(api):
    before = row_counts()
    body = assert_error(
        batch(api, [{"task": "test-echo"}, {"task": "missing-task"}]), 404, "task_not_found"
    )
    assert "items[1]" in body["error"] and "missing-task" in body["error"]
    assert row_counts() == before


@pytest.mark.parametrize("items", [[], {}, "x", None])
def test_items_must_be_a_non_empty_list(api, items):
    before = row_counts()
    body = assert_error(batch(api, items), 400, "invalid")
    assert "items" in body["fields"]
    assert row_counts() == before


def test_batch_body_must_be_an_object_with_only_items(api):
    before = row_counts()
    assert_error(api.post(BATCH, [{"task": "test-echo"}], format="json"), 400, "invalid")
    body = assert_error(
        api.post(BATCH, {"items": [{"task": "test-echo"}], "more": 1}, format="json"), 400
    )
    assert "more" in body["fields"]
    assert row_counts() == before


def test_same_idempotency_key_twice_in_a_batch_is_one_run(api):
    item = {"task": "test-echo", "options": {"idempotencyKey": "once"}}
    response = batch(api, [item, item])
    assert response.status_code == 200, response.content
    runs = response.json()["runs"]
    assert runs[0] == runs[1]
    assert Run.objects.count() == 1
