"""Triggering through the SDK: runs as written, idempotency, replay, batches, numbering."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from realtime_runs import engine
from realtime_runs.errors import InvalidInput, NotFound, TooLarge
from realtime_runs.models import Batch, Run, RunStatus, RunTag
from realtime_runs.registry import TaskNotFound
from realtime_runs.sdk import runs, tasks

pytestmark = pytest.mark.django_db


def later(seconds):
    """Patch the clock to ``seconds`` from now (everything reads django.utils.timezone.now)."""
    return mock.patch(
        "django.utils.timezone.now", return_value=timezone.now() + timedelta(seconds=seconds)
    )


def test_trigger_writes_a_queued_run():
    handle = tasks.trigger("test-echo", {"a": 1}, tags=["user-1", "user-1", "x"], test=True)
    run = Run.objects.get(pk=handle.id)
    assert handle.id.startswith("run_") and handle.is_cached is False
    assert handle.task_identifier == "test-echo"
    assert run.status == RunStatus.QUEUED
    assert run.payload == {"a": 1}
    assert run.tags == ["user-1", "x"]  # duplicates dropped, order kept
    assert sorted(RunTag.objects.filter(run=run).values_list("name", flat=True)) == ["user-1", "x"]
    assert run.is_test is True
    assert (run.version, run.attempt_number, run.number) == (1, 0, 1)
    assert run.queued_at is not None and run.ready_at is not None
    data = handle.retrieve().to_dict()
    assert data["isQueued"] is True and data["isFinished"] is False


def test_trigger_takes_initial_metadata_and_options():
    handle = tasks.trigger(
        "test-echo", None, metadata={"stage": "new"}, max_attempts=7, max_duration="2m", ttl="1h"
    )
    run = Run.objects.get(pk=handle.id)
    assert run.metadata == {"stage": "new"}
    assert (run.max_attempts, run.max_duration) == (7, 120)
    assert run.ttl == "1h"
    assert run.to_dict()["ttl"] == "1h"
    assert run.expire_at == run.created_at + timedelta(hours=1)


def test_a_task_default_applies_when_the_trigger_gives_none():
    run = Run.objects.get(pk=tasks.trigger("test-flaky", {"succeed_on": 1}).id)
    assert run.max_attempts == 4


def test_unknown_task_is_not_found():
    with pytest.raises(TaskNotFound) as caught:
        tasks.trigger("no-such-task", {})
    assert caught.value.status == 404
    assert not Run.objects.exists()


def test_unknown_sdk_option_is_a_type_error():
    with pytest.raises(TypeError, match="unknown trigger option"):
        tasks.trigger("test-echo", {}, idempotencyKey="camelCase is the REST spelling")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"ttl": "soon"}, "options.ttl"),
        ({"delay": "whenever"}, "options.delay"),
        ({"max_attempts": 0}, "options.maxAttempts"),
        ({"tags": ["x" * 129]}, "options.tags"),
        ({"tags": [f"t{i}" for i in range(11)]}, "options.tags"),
    ],
)
def test_bad_options_are_invalid_input(options, field):
    with pytest.raises(InvalidInput) as caught:
        tasks.trigger("test-echo", {}, **options)
    assert field in caught.value.details["fields"]
    assert not Run.objects.exists()


def test_a_payload_that_is_not_json_is_invalid_input():
    with pytest.raises(InvalidInput):
        tasks.trigger("test-echo", {"when": object()})


def test_a_payload_over_the_limit_is_too_large():
    with pytest.raises(TooLarge):
        tasks.trigger("test-echo", "x" * (3 * 1024 * 1024))


def test_retrieve_of_an_unknown_run_is_not_found():
    with pytest.raises(NotFound):
        runs.retrieve("run_doesnotexist")
    with pytest.raises(NotFound):
        engine.get_run(12)  # the database's integer key is never an id


# -- idempotency --------------------------------------------------------------------------


def test_the_same_idempotency_key_gives_the_same_run():
    first = tasks.trigger("test-echo", {"n": 1}, idempotency_key="order-1")
    second = tasks.trigger("test-echo", {"n": 2}, idempotency_key="order-1")
    assert second.id == first.id
    assert (first.is_cached, second.is_cached) == (False, True)
    assert Run.objects.count() == 1
    assert Run.objects.get().payload == {"n": 1}
    assert Run.objects.get().to_dict()["idempotencyKey"] == "order-1"


def test_idempotency_keys_are_per_task():
    echo = tasks.trigger("test-echo", {}, idempotency_key="k")
    context = tasks.trigger("test-context", {}, idempotency_key="k")
    assert echo.id != context.id
    assert not context.is_cached


def test_after_the_keys_ttl_the_same_key_makes_a_new_run():
    first = tasks.trigger("test-echo", {}, idempotency_key="k", idempotency_key_ttl="10s")
    with later(5):
        assert tasks.trigger("test-echo", {}, idempotency_key="k").id == first.id
    with later(11):
        again = tasks.trigger("test-echo", {}, idempotency_key="k")
    assert again.id != first.id
    assert again.is_cached is False
    # ...and the new run holds the key from now on.
    with later(12):
        assert tasks.trigger("test-echo", {}, idempotency_key="k").id == again.id


def test_a_cached_trigger_does_not_use_up_a_run_number():
    tasks.trigger("test-echo", {}, idempotency_key="k")
    tasks.trigger("test-echo", {}, idempotency_key="k")
    tasks.batch_trigger("test-echo", [{"payload": 1, "options": {"idempotency_key": "k"}}])
    third = tasks.trigger("test-echo", {})
    assert Run.objects.get(pk=third.id).number == 2


# -- replay -------------------------------------------------------------------------------


def test_replay_copies_task_payload_tags_and_test_flag():
    original = tasks.trigger(
        "test-context", {"deep": [1, {"x": 2}]}, tags=["a", "b"], test=True, idempotency_key="k"
    )
    replayed = runs.replay(original.id)
    assert replayed.id != original.id
    assert replayed.is_cached is False
    run = Run.objects.get(pk=replayed.id)
    assert run.task_identifier == "test-context"
    assert run.payload == {"deep": [1, {"x": 2}]}
    assert run.tags == ["a", "b"]
    assert run.is_test is True
    assert run.replayed_from_id == original.id
    assert run.status == RunStatus.QUEUED
    assert run.number == 2
    assert run.idempotency_key == ""  # a replay is a new run, not the cached one


def test_replay_of_an_unknown_run_is_not_found():
    with pytest.raises(NotFound):
        runs.replay("run_nope")


# -- batches ------------------------------------------------------------------------------


def test_batch_trigger_gives_every_run_the_batch_and_numbers_them():
    batch = tasks.batch_trigger(
        "test-echo", [{"payload": {"i": i}} for i in range(3)], tags=["shared"]
    )
    assert batch.id.startswith("batch_")
    assert Batch.objects.filter(pk=batch.id).exists()
    found = [Run.objects.get(pk=handle.id) for handle in batch.runs]
    assert [run.batch_id for run in found] == [batch.id] * 3
    assert [run.number for run in found] == [1, 2, 3]
    assert [run.payload for run in found] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert all(run.tags == ["shared"] for run in found)
    assert set(runs.list(batch_id=batch.id).values_list("id", flat=True)) == {
        h.id for h in batch.runs
    }


def test_an_items_own_options_win_over_the_shared_ones():
    batch = tasks.batch_trigger(
        "test-echo", [{"payload": 1, "options": {"tags": ["own"]}}, {"payload": 2}], tags=["shared"]
    )
    assert [Run.objects.get(pk=h.id).tags for h in batch.runs] == [["own"], ["shared"]]


def test_numbers_are_per_task_and_continue_across_batches():
    tasks.trigger("test-echo", {})
    batch = tasks.batch_trigger_many(
        [
            {"task": "test-context", "payload": 1},
            {"task": "test-echo", "payload": 2},
            {"task": "test-context", "payload": 3},
            {"task": "test-echo", "payload": 4},
        ]
    )
    numbers = [(h.task_identifier, Run.objects.get(pk=h.id).number) for h in batch.runs]
    assert numbers == [("test-context", 1), ("test-echo", 2), ("test-context", 2), ("test-echo", 3)]


def test_one_bad_item_rejects_the_whole_batch():
    with pytest.raises(InvalidInput) as caught:
        tasks.batch_trigger("test-echo", [{"payload": 1}, {"payload": 2, "options": {"ttl": "x"}}])
    assert "items[1].options.ttl" in caught.value.details["fields"]
    with pytest.raises(TaskNotFound, match=r"items\[1\]"):
        tasks.batch_trigger_many([{"task": "test-echo"}, {"task": "nope"}])
    assert not Run.objects.exists()
    assert not Batch.objects.exists()


def test_the_same_key_twice_in_one_batch_is_one_run():
    batch = tasks.batch_trigger(
        "test-echo",
        [{"payload": 1, "options": {"idempotency_key": "k"}}] * 2,
    )
    assert batch.runs[0].id == batch.runs[1].id
    assert [h.is_cached for h in batch.runs] == [False, True]
    assert Run.objects.count() == 1


def test_an_empty_batch_is_invalid():
    with pytest.raises(InvalidInput):
        tasks.batch_trigger("test-echo", [])


# -- listing ------------------------------------------------------------------------------


def test_runs_list_filters():
    a = tasks.trigger("test-echo", {}, tags=["red", "big"])
    b = tasks.trigger("test-echo", {}, tags=["red"])
    c = tasks.trigger("test-context", {}, tags=["blue"])
    engine.cancel(b.id)

    def ids(**filters):
        return set(runs.list(**filters).values_list("id", flat=True))

    assert ids() == {a.id, b.id, c.id}
    assert ids(tag="red") == {a.id, b.id}
    assert ids(tag=["red", "big"]) == {a.id}
    assert ids(status="CANCELED") == {b.id}
    assert ids(status=["QUEUED", "CANCELED"], task_identifier="test-echo") == {a.id, b.id}
    assert ids(task_identifier=["test-context"]) == {c.id}
    assert [r.id for r in runs.list()][0] == c.id  # newest first
