"""Trigger options and what they do to the run (CONTRACT.md §3)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from realtime_runs.engine.sweep import sweep
from realtime_runs.models import Run, RunStatus, RunTag
from tests.api.support import RUN, TRIGGER, assert_error, post_raw, row_counts, trigger, triggered
from tests.conftest import wait_for, wait_for_status

# -- tags -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_tags_are_stored_as_rows_and_on_the_run(api):
    run = triggered(api, "test-echo", None, tags=["user-1", "org-2"])
    assert run.tags == ["user-1", "org-2"]
    assert sorted(RunTag.objects.filter(run=run).values_list("name", flat=True)) == [
        "org-2",
        "user-1",
    ]
    assert api.get(RUN.format(run.id)).json()["tags"] == ["user-1", "org-2"]


@pytest.mark.django_db
def test_one_tag_may_be_a_string_and_duplicates_collapse(api):
    assert triggered(api, "test-echo", None, tags="solo").tags == ["solo"]
    run = triggered(api, "test-echo", None, tags=["a", "b", "a"])
    assert run.tags == ["a", "b"]
    assert RunTag.objects.filter(run=run).count() == 2


# -- idempotency ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_idempotency_key_returns_the_same_run(api):
    first = trigger(api, "test-echo", {"n": 1}, idempotencyKey="order-1")
    assert first.status_code == 200 and first.json()["isCached"] is False
    second = trigger(api, "test-echo", {"n": 2}, idempotencyKey="order-1")
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["isCached"] is True
    assert Run.objects.count() == 1
    run = Run.objects.get()
    assert run.payload == {"n": 1}
    assert api.get(RUN.format(run.id)).json()["idempotencyKey"] == "order-1"


@pytest.mark.django_db
def test_same_idempotency_key_on_another_task_is_a_new_run(api):
    first = triggered(api, "test-echo", None, idempotencyKey="shared")
    response = trigger(api, "test-context", None, idempotencyKey="shared")
    assert response.status_code == 200
    assert response.json()["isCached"] is False
    assert response.json()["id"] != first.id
    assert Run.objects.count() == 2


@pytest.mark.django_db
def test_different_idempotency_keys_are_different_runs(api):
    a = triggered(api, "test-echo", None, idempotencyKey="a")
    b = triggered(api, "test-echo", None, idempotencyKey="b")
    assert a.id != b.id


@pytest.mark.django_db
def test_idempotency_key_ttl_sets_the_expiry(api):
    run = triggered(api, "test-echo", None, idempotencyKey="k", idempotencyKeyTTL="1h")
    assert run.idempotency_key_expires_at - run.created_at == timedelta(hours=1)
    default = triggered(api, "test-echo", None, idempotencyKey="k2")
    assert default.idempotency_key_expires_at - default.created_at == timedelta(days=30)


@pytest.mark.django_db
def test_expired_idempotency_key_gives_a_new_run(api):
    first = triggered(api, "test-echo", None, idempotencyKey="k", idempotencyKeyTTL="1h")
    Run.objects.filter(pk=first.id).update(
        idempotency_key_expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = trigger(api, "test-echo", None, idempotencyKey="k")
    assert response.status_code == 200
    assert response.json()["isCached"] is False
    assert response.json()["id"] != first.id
    # ... and the new run is what the key returns from now on.
    again = trigger(api, "test-echo", None, idempotencyKey="k")
    assert again.json()["id"] == response.json()["id"]
    assert again.json()["isCached"] is True


@pytest.mark.django_db
def test_tiny_idempotency_key_ttl_expires_by_itself(api):
    first = triggered(api, "test-echo", None, idempotencyKey="k", idempotencyKeyTTL=0.05)
    wait_for(lambda: timezone.now() > first.idempotency_key_expires_at, timeout=2)
    response = trigger(api, "test-echo", None, idempotencyKey="k")
    assert response.json()["isCached"] is False
    assert response.json()["id"] != first.id


# -- delay ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_delay_makes_a_delayed_run_with_delayed_until(api):
    run = triggered(api, "test-echo", None, delay="10s")
    assert run.status == RunStatus.DELAYED
    assert run.queued_at is None
    assert timedelta(seconds=9) < run.delayed_until - run.created_at <= timedelta(seconds=11)
    body = api.get(RUN.format(run.id)).json()
    assert body["status"] == "DELAYED"
    assert body["delayedUntil"].endswith("Z")
    assert body["isQueued"] is True


@pytest.mark.django_db
def test_delay_as_a_date_time(api):
    when = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    run = triggered(api, "test-echo", None, delay=when.isoformat())
    assert run.status == RunStatus.DELAYED
    assert run.delayed_until == when
    past = triggered(api, "test-echo", None, delay="2020-01-01T00:00:00Z")
    assert past.status == RunStatus.QUEUED
    assert past.delayed_until is None


@pytest.mark.django_db
def test_delayed_run_is_queued_by_the_sweep_once_due(api):
    run = triggered(api, "test-echo", None, delay=0.3)
    assert run.status == RunStatus.DELAYED
    sweep(now=run.delayed_until - timedelta(milliseconds=1))
    assert Run.objects.get(pk=run.id).status == RunStatus.DELAYED
    wait_for(lambda: timezone.now() > run.delayed_until, timeout=2)
    sweep()
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED
    assert run.queued_at >= run.delayed_until


def test_delayed_run_executes_once_when_due(api, worker):
    run = triggered(api, "test-echo", {"v": 1}, delay="1s")
    assert run.status == RunStatus.DELAYED
    assert timedelta(seconds=0.5) < run.delayed_until - run.created_at <= timedelta(seconds=1)
    done = wait_for_status(run.id, RunStatus.COMPLETED, RunStatus.FAILED)
    assert done.status == RunStatus.COMPLETED
    assert done.output == {"v": 1}
    assert done.attempt_number == 1
    assert done.queued_at >= done.delayed_until
    assert done.started_at >= done.delayed_until


# -- ttl ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_ttl_is_stored_as_a_duration(api):
    run = triggered(api, "test-echo", None, ttl="1s")
    assert run.ttl == "1s"
    assert run.expire_at - run.created_at == timedelta(seconds=1)
    assert api.get(RUN.format(run.id)).json()["ttl"] == "1s"
    assert triggered(api, "test-echo", None, ttl=120).ttl == "2m"
    assert api.get(RUN.format(triggered(api).id)).json()["ttl"] is None


@pytest.mark.django_db
def test_ttl_expires_a_run_that_did_not_start_in_time(api):
    run = triggered(api, "test-echo", None, ttl=0.05)
    sweep(now=run.expire_at - timedelta(milliseconds=1))
    assert Run.objects.get(pk=run.id).status == RunStatus.QUEUED
    wait_for(lambda: timezone.now() > run.expire_at, timeout=2)
    sweep()
    run.refresh_from_db()
    assert run.status == RunStatus.EXPIRED
    assert run.expired_at is not None and run.finished_at is not None
    body = api.get(RUN.format(run.id)).json()
    assert body["status"] == "EXPIRED"
    assert body["expiredAt"].endswith("Z")
    assert body["isFinished"] is True
    assert body["isFailed"] is True


@pytest.mark.django_db
def test_ttl_of_a_delayed_run_counts_from_when_it_is_due(api):
    run = triggered(api, "test-echo", None, delay=0.3, ttl="1m")
    assert run.expire_at is None
    wait_for(lambda: timezone.now() > run.delayed_until, timeout=2)
    sweep()
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED
    assert run.expire_at - run.queued_at == timedelta(minutes=1)


def test_run_with_a_ttl_that_starts_in_time_completes(api, worker):
    run = triggered(api, "test-echo", {"ok": True}, ttl="1m")
    assert wait_for_status(run.id, RunStatus.COMPLETED, RunStatus.EXPIRED).status == "COMPLETED"


# -- maxAttempts and maxDuration ------------------------------------------------------------


def test_max_attempts_option_overrides_the_task(api, worker):
    # test-flaky allows 4 attempts; with maxAttempts 2 the second failure is final.
    run = triggered(api, "test-flaky", {"succeed_on": 3}, maxAttempts=2)
    done = wait_for_status(run.id, RunStatus.FAILED, RunStatus.COMPLETED)
    assert done.status == RunStatus.FAILED
    assert done.attempt_number == 2
    assert done.error["message"] == "attempt 2 fails"


def test_max_attempts_allows_enough_attempts_to_succeed(api, worker):
    run = triggered(api, "test-flaky", {"succeed_on": 3}, maxAttempts=3)
    done = wait_for_status(run.id, RunStatus.FAILED, RunStatus.COMPLETED)
    assert done.status == RunStatus.COMPLETED
    assert done.output == {"attempt": 3}
    assert done.attempt_number == 3


def test_max_duration_times_out_the_run_and_stops_it(api, worker):
    run = triggered(api, "test-sleep", {"seconds": 30}, maxDuration=0.5)
    assert run.max_duration == 0.5
    done = wait_for_status(run.id, RunStatus.TIMED_OUT, RunStatus.COMPLETED, RunStatus.FAILED)
    assert done.status == RunStatus.TIMED_OUT
    assert done.error["name"] == "MaxDurationExceededError"
    assert done.finished_at is not None
    # The attempt stopped: it recorded its compute time long before the 30 s sleep would end.
    wait_for(lambda: Run.objects.get(pk=run.id).duration_ms > 0, timeout=10)
    final = Run.objects.get(pk=run.id)
    assert final.status == RunStatus.TIMED_OUT
    assert final.output is None
    assert final.duration_ms < 10_000


# -- durations ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "given, seconds",
    [
        ("1s", 1),
        ("15m", 900),
        ("1h30m", 5400),
        ("2d", 172800),
        ("1w", 604800),
        (90, 90),
        (2.5, 2.5),
    ],
)
def test_durations_as_strings_and_numbers(api, given, seconds):
    run = triggered(api, "test-echo", None, maxDuration=given, ttl=given)
    assert run.max_duration == seconds
    assert run.ttl_seconds == seconds


@pytest.mark.django_db
@pytest.mark.parametrize("option", ["ttl", "maxDuration", "delay", "idempotencyKeyTTL"])
@pytest.mark.parametrize("bad", ["soon", "10 minutes", "1y", "", -5, True, [1], {"s": 1}])
def test_bad_duration_is_400_and_creates_nothing(api, option, bad):
    before = row_counts()
    options = {option: bad}
    if option == "idempotencyKeyTTL":
        options["idempotencyKey"] = "k"
    body = assert_error(trigger(api, "test-echo", None, **options), 400, "invalid")
    assert f"options.{option}" in body["fields"]
    assert row_counts() == before


@pytest.mark.django_db
@pytest.mark.parametrize("option", ["ttl", "maxDuration"])
def test_zero_ttl_and_max_duration_are_400(api, option):
    body = assert_error(trigger(api, "test-echo", None, **{option: 0}), 400, "invalid")
    assert f"options.{option}" in body["fields"]
    assert Run.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("option", ["ttl", "maxDuration", "delay", "idempotencyKeyTTL"])
@pytest.mark.parametrize("huge", ['"99999999999w"', "1e12", "1e400"])
def test_huge_duration_is_400_not_a_server_error(api, option, huge):
    """These overflowed a datetime (a 500) before durations had an upper bound. 1e400 is valid
    JSON that Python parses as infinity."""
    before = row_counts()
    text = f'{{"options": {{"{option}": {huge}, "idempotencyKey": "k"}}}}'
    body = assert_error(post_raw(api, TRIGGER.format("test-echo"), text), 400, "invalid")
    assert list(body["fields"]) == [f"options.{option}"]
    assert row_counts() == before


@pytest.mark.django_db
def test_longest_duration_is_accepted(api):
    run = triggered(
        api,
        "test-echo",
        None,
        ttl="3650d",
        delay="3650d",
        idempotencyKey="k",
        idempotencyKeyTTL="3650d",
        maxDuration="3650d",
    )
    assert run.status == RunStatus.DELAYED
    assert run.ttl_seconds == 3650 * 86400


@pytest.mark.django_db
@pytest.mark.parametrize(
    "when", ["2024-13-01T00:00:00Z", "2024-02-30T10:00:00Z", "2024-01-01T25:00"]
)
def test_delay_that_is_not_a_real_date_time_is_400(api, when):
    """Well formed but impossible: parse_datetime raises ValueError here (it was a 500)."""
    before = row_counts()
    body = assert_error(trigger(api, "test-echo", None, delay=when), 400, "invalid")
    assert list(body["fields"]) == ["options.delay"]
    assert row_counts() == before
