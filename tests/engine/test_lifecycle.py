"""The run lifecycle: TRANSITIONS, move_run, versions, and the run_changed signal."""

import pytest
from django.db import transaction

from realtime_runs.engine.changes import move_run, update_run
from realtime_runs.models import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    TRANSITIONS,
    Run,
    RunStatus,
    sources_of,
)
from tests.engine.conftest import make_run


def test_every_status_has_an_entry():
    assert set(TRANSITIONS) == set(RunStatus)
    assert all(target in RunStatus for nexts in TRANSITIONS.values() for target in nexts)


def test_final_statuses_have_no_outgoing_transitions():
    assert FINAL_STATUSES == {
        "COMPLETED",
        "FAILED",
        "CANCELED",
        "CRASHED",
        "SYSTEM_FAILURE",
        "EXPIRED",
        "TIMED_OUT",
    }
    for status in FINAL_STATUSES:
        assert TRANSITIONS[status] == set(), status


def test_every_active_status_can_reach_a_final_one():
    for status in ACTIVE_STATUSES:
        seen, frontier = set(), {status}
        while frontier:
            seen |= frontier
            frontier = {n for s in frontier for n in TRANSITIONS[s]} - seen
        assert seen & FINAL_STATUSES, status


def test_only_a_trigger_makes_delayed_or_queued_runs():
    assert sources_of(RunStatus.DELAYED) == []
    assert set(sources_of(RunStatus.QUEUED)) == {RunStatus.DELAYED, RunStatus.DEQUEUED}
    assert set(sources_of(RunStatus.EXPIRED)) == {RunStatus.QUEUED}


def test_sources_of_is_the_inverse_of_transitions():
    for target in RunStatus:
        assert set(sources_of(target)) == {s for s, nexts in TRANSITIONS.items() if target in nexts}


@pytest.mark.django_db
def test_move_run_follows_transitions_exactly():
    """Every (from, to) pair: the move happens exactly when TRANSITIONS allows it."""
    for source in RunStatus:
        for target in RunStatus:
            run = make_run(status=source)
            moved = move_run(run.id, target)
            run.refresh_from_db()
            allowed = target in TRANSITIONS[source]
            assert moved is allowed, f"{source} -> {target}"
            assert run.status == (target if allowed else source)
            assert run.version == (2 if allowed else 1)


@pytest.mark.django_db
def test_a_completed_run_stays_completed():
    run = make_run(status=RunStatus.COMPLETED, output={"ok": True})
    for target in RunStatus:
        assert move_run(run.id, target, output=None) is False
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert run.output == {"ok": True}
    assert run.version == 1


@pytest.mark.django_db
def test_from_statuses_narrows_the_lifecycle_and_never_widens_it():
    run = make_run(status=RunStatus.QUEUED)
    assert move_run(run.id, RunStatus.CANCELED, from_statuses=[RunStatus.DELAYED]) is False
    done = make_run(status=RunStatus.COMPLETED)
    assert move_run(done.id, RunStatus.QUEUED, from_statuses=[RunStatus.COMPLETED]) is False
    assert move_run(done.id, RunStatus.FAILED, from_statuses=list(RunStatus)) is False
    for row in (run, done):
        stored = Run.objects.get(pk=row.id)
        assert (stored.status, stored.version) == (row.status, 1)


@pytest.mark.django_db
def test_each_change_bumps_the_version_by_exactly_one():
    run = make_run(status=RunStatus.QUEUED)
    steps = [
        (RunStatus.DEQUEUED, {"worker_id": "w"}),
        (RunStatus.EXECUTING, {"attempt_number": 1}),
        (RunStatus.EXECUTING, {"attempt_number": 2}),
        (RunStatus.COMPLETED, {"output": 1}),
    ]
    for expected_version, (status, fields) in enumerate(steps, start=2):
        assert move_run(run.id, status, **fields)
        run.refresh_from_db()
        assert (run.status, run.version) == (status, expected_version)
    assert update_run(run.id, metadata={"late": True})
    run.refresh_from_db()
    assert run.version == 6


@pytest.mark.django_db
def test_update_run_with_a_where_that_does_not_match_changes_nothing():
    run = make_run(status=RunStatus.EXECUTING, worker_id="a")
    assert update_run(run.id, where={"worker_id": "b"}, output=1) is False
    run.refresh_from_db()
    assert (run.output, run.version) == (None, 1)


@pytest.mark.django_db
def test_move_run_where_narrows_the_move():
    run = make_run(status=RunStatus.EXECUTING, worker_id="a")
    assert move_run(run.id, RunStatus.COMPLETED, where={"worker_id": "b"}) is False
    assert move_run(run.id, RunStatus.COMPLETED, where={"worker_id": "a"}) is True
    assert Run.objects.get(pk=run.id).status == RunStatus.COMPLETED


# -- run_changed --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_run_changed_is_sent_once_per_change_and_only_after_commit(changes):
    run = make_run(status=RunStatus.QUEUED)
    with transaction.atomic():
        assert move_run(run.id, RunStatus.DEQUEUED)
        assert update_run(run.id, metadata={"a": 1})
        assert changes == []  # nothing before the commit
    assert changes == [run.id, run.id]


@pytest.mark.django_db(transaction=True)
def test_run_changed_is_not_sent_when_the_transaction_rolls_back(changes):
    run = make_run(status=RunStatus.QUEUED)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        assert move_run(run.id, RunStatus.CANCELED)
        raise Boom
    assert changes == []
    run.refresh_from_db()
    assert (run.status, run.version) == (RunStatus.QUEUED, 1)


@pytest.mark.django_db(transaction=True)
def test_run_changed_is_not_sent_for_a_savepoint_that_rolled_back(changes):
    first, second = make_run(), make_run()
    with transaction.atomic():
        assert move_run(first.id, RunStatus.CANCELED)
        try:
            with transaction.atomic():
                assert move_run(second.id, RunStatus.CANCELED)
                raise RuntimeError
        except RuntimeError:
            pass
    assert changes == [first.id]


@pytest.mark.django_db(transaction=True)
def test_run_changed_is_not_sent_for_a_refused_move(changes):
    run = make_run(status=RunStatus.COMPLETED)
    assert move_run(run.id, RunStatus.CANCELED) is False
    assert changes == []


@pytest.mark.django_db(transaction=True)
def test_run_changed_is_sent_at_once_outside_a_transaction(changes):
    run = make_run(status=RunStatus.QUEUED)
    assert move_run(run.id, RunStatus.CANCELED)
    assert changes == [run.id]
