"""Writing a run's stored metadata (engine.write_metadata, sdk runs.update_metadata)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from realtime_runs import engine
from realtime_runs.errors import InvalidInput, NotFound, TooLarge, Unprocessable
from realtime_runs.models import Run, RunStatus
from realtime_runs.sdk import runs
from tests.engine.conftest import make_run

pytestmark = pytest.mark.django_db


def test_operations_apply_to_the_stored_metadata_in_one_change():
    run = make_run(metadata={"n": 1, "log": ["a"]})
    result = runs.update_metadata(
        run.id,
        [
            {"type": "increment", "key": "n", "value": 2},
            {"type": "append", "key": "log", "value": "b"},
            {"type": "set", "key": "$.deep.flag", "value": True},
        ],
    )
    assert result == {"n": 3, "log": ["a", "b"], "deep": {"flag": True}}
    run.refresh_from_db()
    assert run.metadata == result
    assert run.version == 2


def test_a_recently_finished_run_is_still_writable():
    run = make_run(status=RunStatus.COMPLETED, finished_at=timezone.now() - timedelta(minutes=59))
    assert engine.write_metadata(run.id, [{"type": "set", "key": "late", "value": 1}]) == {
        "late": 1
    }


def test_an_hour_after_it_finished_a_runs_metadata_is_read_only():
    run = make_run(status=RunStatus.COMPLETED, finished_at=timezone.now() - timedelta(minutes=61))
    with pytest.raises(Unprocessable) as caught:
        engine.write_metadata(run.id, [{"type": "set", "key": "late", "value": 1}])
    assert caught.value.code == "metadata_read_only"
    run.refresh_from_db()
    assert (run.metadata, run.version) == ({}, 1)


def test_bad_or_too_large_writes_change_nothing():
    run = make_run(metadata={"keep": True})
    with pytest.raises(InvalidInput):
        engine.write_metadata(run.id, [{"type": "set", "key": "a", "value": 1}, {"type": "?"}])
    with pytest.raises(TooLarge):
        engine.write_metadata(run.id, [{"type": "set", "key": "a", "value": "x" * 300_000}])
    run.refresh_from_db()
    assert (run.metadata, run.version) == ({"keep": True}, 1)


def test_writing_to_an_unknown_run_is_not_found():
    with pytest.raises(NotFound):
        engine.write_metadata("run_missing", [{"type": "set", "key": "a", "value": 1}])


def test_initial_metadata_over_the_limit_is_too_large():
    from realtime_runs.sdk import tasks

    with pytest.raises(TooLarge):
        tasks.trigger("test-echo", {}, metadata={"blob": "x" * 300_000})
    assert not Run.objects.exists()
