"""POST /api/v1/tasks/{taskId}/trigger: success, and every refusal leaves the database as it was."""

import pytest

from realtime_runs.models import Run, RunStatus
from tests.api.support import (
    TRIGGER,
    KiB,
    MiB,
    assert_error,
    json_size,
    post_raw,
    row_counts,
    trigger,
)

pytestmark = pytest.mark.django_db


def payload_of_size(size):
    """A string payload that serializes to exactly ``size`` bytes (the quotes count)."""
    payload = "x" * (size - 2)
    assert json_size(payload) == size
    return payload


def test_trigger_creates_a_queued_run_and_returns_its_id(api):
    response = trigger(api, "test-echo", {"hello": "world", "n": [1, 2]})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"].startswith("run_")
    assert body["isCached"] is False
    run = Run.objects.get(pk=body["id"])
    assert run.task_identifier == "test-echo"
    assert run.payload == {"hello": "world", "n": [1, 2]}
    assert run.status == RunStatus.QUEUED
    assert run.queued_at is not None


@pytest.mark.parametrize("payload", [None, 0, "text", [1, "two"], {"nested": {"deep": True}}])
def test_any_json_payload_is_stored_as_given(api, payload):
    response = trigger(api, "test-echo", payload)
    assert response.status_code == 200, response.content
    assert Run.objects.get(pk=response.json()["id"]).payload == payload


def test_body_without_payload_or_options_is_fine(api):
    response = post_raw(api, TRIGGER.format("test-echo"), "{}")
    assert response.status_code == 200, response.content
    assert Run.objects.get(pk=response.json()["id"]).payload is None


def test_unknown_task_is_404_task_not_found_and_creates_nothing(api):
    before = row_counts()
    body = assert_error(trigger(api, "no-such-task", {"a": 1}), 404, "task_not_found")
    assert "no-such-task" in body["error"]
    assert row_counts() == before


@pytest.mark.parametrize("text", ["[1, 2]", '"a string"', "42", "null"])
def test_body_that_is_not_an_object_is_400(api, text):
    before = row_counts()
    body = assert_error(post_raw(api, TRIGGER.format("test-echo"), text), 400)
    assert row_counts() == before
    assert "object" in body["error"]


@pytest.mark.parametrize("text", ["{bad", '{"payload": }', '{"payload": NaN}', "{'a': 1}"])
def test_malformed_json_is_400(api, text):
    before = row_counts()
    assert_error(post_raw(api, TRIGGER.format("test-echo"), text), 400, "malformed")
    assert row_counts() == before


def test_unknown_top_level_field_is_400_with_fields(api):
    before = row_counts()
    body = assert_error(
        api.post(TRIGGER.format("test-echo"), {"payload": 1, "bogus": 2}, format="json"),
        400,
        "invalid",
    )
    assert "bogus" in body["fields"]
    assert row_counts() == before


def test_unknown_option_is_400_with_fields(api):
    before = row_counts()
    body = assert_error(trigger(api, "test-echo", 1, notAnOption=True), 400, "invalid")
    assert list(body["fields"]) == ["options.notAnOption"]
    assert all(isinstance(m, str) for m in body["fields"]["options.notAnOption"])
    assert row_counts() == before


def test_options_that_are_not_an_object_are_400(api):
    before = row_counts()
    response = api.post(TRIGGER.format("test-echo"), {"options": ["tags"]}, format="json")
    body = assert_error(response, 400, "invalid")
    assert "options" in body["fields"]
    assert row_counts() == before


def test_ten_tags_are_allowed(api):
    tags = [f"tag-{i}" for i in range(10)]
    response = trigger(api, "test-echo", None, tags=tags)
    assert response.status_code == 200, response.content
    assert Run.objects.get(pk=response.json()["id"]).tags == tags


def test_eleven_tags_are_400_and_create_nothing(api):
    before = row_counts()
    body = assert_error(
        trigger(api, "test-echo", None, tags=[f"tag-{i}" for i in range(11)]), 400, "invalid"
    )
    assert "options.tags" in body["fields"]
    assert row_counts() == before


def test_tag_of_128_chars_is_allowed(api):
    response = trigger(api, "test-echo", None, tags=["t" * 128])
    assert response.status_code == 200, response.content


def test_tag_over_128_chars_is_400_and_creates_nothing(api):
    before = row_counts()
    body = assert_error(trigger(api, "test-echo", None, tags=["ok", "t" * 129]), 400, "invalid")
    assert "options.tags" in body["fields"]
    assert row_counts() == before


@pytest.mark.parametrize("tags", [[""], [{"a": 1}], [["nested"]], {"a": 1}])
def test_tags_that_are_not_strings_are_400(api, tags):
    before = row_counts()
    assert_error(trigger(api, "test-echo", None, tags=tags), 400, "invalid")
    assert row_counts() == before


def test_idempotency_key_over_2048_chars_is_400(api):
    before = row_counts()
    body = assert_error(trigger(api, "test-echo", None, idempotencyKey="k" * 2049), 400)
    assert "options.idempotencyKey" in body["fields"]
    assert row_counts() == before
    assert trigger(api, "test-echo", None, idempotencyKey="k" * 2048).status_code == 200


def test_payload_over_3_mib_is_413_and_creates_nothing(api):
    before = row_counts()
    assert_error(trigger(api, "test-echo", payload_of_size(3 * MiB + 1)), 413)
    assert row_counts() == before


def test_payload_limit_is_3_mib_serialized(api):
    before = row_counts()
    body = assert_error(
        trigger(api, "test-echo", payload_of_size(3 * MiB + 1)), 413, "payload_too_large"
    )
    assert str(3 * MiB) in body["error"]
    assert row_counts() == before
    response = trigger(api, "test-echo", payload_of_size(3 * MiB))
    assert response.status_code == 200, response.content[:300]


def test_payload_over_3_mib_is_413_payload_too_large(api):
    assert_error(trigger(api, "test-echo", payload_of_size(3 * MiB + 1)), 413, "payload_too_large")


def test_payload_of_2_9_mib_is_accepted(api):
    response = trigger(api, "test-echo", payload_of_size(int(2.9 * MiB)))
    assert response.status_code == 200, response.content[:300]


def test_metadata_option_is_stored(api):
    response = trigger(api, "test-echo", None, metadata={"progress": 0, "user": {"id": 7}})
    assert response.status_code == 200, response.content
    assert Run.objects.get(pk=response.json()["id"]).metadata == {
        "progress": 0,
        "user": {"id": 7},
    }


def test_metadata_option_over_256_kib_is_413_and_creates_nothing(api):
    metadata = {"blob": "x" * (256 * KiB)}
    assert json_size(metadata) > 256 * KiB
    before = row_counts()
    body = assert_error(trigger(api, "test-echo", None, metadata=metadata), 413)
    assert body["code"] == "metadata_too_large"
    assert row_counts() == before


def test_metadata_option_of_exactly_256_kib_is_allowed(api):
    overhead = json_size({"blob": ""})
    metadata = {"blob": "x" * (256 * KiB - overhead)}
    assert json_size(metadata) == 256 * KiB
    assert trigger(api, "test-echo", None, metadata=metadata).status_code == 200


def test_metadata_option_that_is_not_an_object_is_400(api):
    before = row_counts()
    body = assert_error(trigger(api, "test-echo", None, metadata=[1, 2]), 400, "invalid")
    assert "options.metadata" in body["fields"]
    assert row_counts() == before


@pytest.mark.parametrize("value", [0, 101, "many", 1.5])
def test_bad_max_attempts_is_400(api, value):
    before = row_counts()
    body = assert_error(trigger(api, "test-echo", None, maxAttempts=value), 400, "invalid")
    assert "options.maxAttempts" in body["fields"]
    assert row_counts() == before


def test_get_is_not_allowed_on_trigger(api):
    assert_error(api.get(TRIGGER.format("test-echo")), 405, "method_not_allowed")
