"""The periodic sweep: everything that must happen on time is a row it finds, never a timer.

It promotes due DELAYED runs, expires runs past their ``ttl``, times out runs past their
``maxDuration``, recovers runs whose worker died (retry or CRASHED) and hands off again runs
whose hand-off was lost. Every step is a conditional update, so several sweepers (one per
worker process, say) may run at once without doing anything twice.
"""

import logging
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from realtime_runs.conf import runs_settings
from realtime_runs.engine.changes import move_run, update_run
from realtime_runs.engine.execution import attempts_allowed, time_out
from realtime_runs.models import Run, RunStatus

log = logging.getLogger(__name__)

BATCH = 500


def sweep(now=None, requeue_after=None) -> dict:
    """One pass; returns how many runs each step touched."""
    from realtime_runs.engine.executors import get_executor

    now = now or timezone.now()
    executor = get_executor()
    counts = {
        "queued": 0,
        "expired": 0,
        "timed_out": 0,
        "recovered": 0,
        "crashed": 0,
        "requeued": 0,
    }

    due = Run.objects.filter(status=RunStatus.DELAYED, delayed_until__lte=now)
    for run_id, ttl in due.values_list("id", "ttl_seconds")[:BATCH]:
        expire_at = now + timedelta(seconds=ttl) if ttl else None
        if move_run(
            run_id,
            RunStatus.QUEUED,
            from_statuses=[RunStatus.DELAYED],
            queued_at=now,
            ready_at=now,
            handed_off_at=now,
            expire_at=expire_at,
        ):
            counts["queued"] += 1
            executor.submit(run_id)

    expired = Run.objects.filter(status=RunStatus.QUEUED, worker_id="", expire_at__lte=now)
    for run_id in expired.values_list("id", flat=True)[:BATCH]:
        if move_run(
            run_id,
            RunStatus.EXPIRED,
            from_statuses=[RunStatus.QUEUED],
            where={"worker_id": ""},
            expired_at=now,
            finished_at=now,
        ):
            counts["expired"] += 1

    # Workers time out their own runs; this catches those whose worker is gone or stuck.
    executing = Run.objects.filter(
        status__in=[RunStatus.EXECUTING, RunStatus.WAITING],
        max_duration__isnull=False,
        started_at__isnull=False,
    )
    for run_id, started_at, max_duration in executing.values_list(
        "id", "started_at", "max_duration"
    )[:BATCH]:
        deadline = started_at + timedelta(seconds=max_duration)
        if deadline <= now and time_out(run_id, deadline):
            counts["timed_out"] += 1

    stale = now - timedelta(seconds=runs_settings.HEARTBEAT_TIMEOUT)
    dead = Run.objects.filter(
        status__in=[RunStatus.DEQUEUED, RunStatus.EXECUTING], heartbeat_at__lt=stale
    ).exclude(worker_id="")
    for run in dead.only(
        "id", "status", "worker_id", "attempt_number", "max_attempts", "task_identifier"
    )[:BATCH]:
        outcome = recover(run, now)
        if outcome:
            counts[outcome] += 1
            if outcome == "recovered":
                executor.submit(run.id)

    from realtime_runs.engine.waits import sweep_waits

    counts.update(sweep_waits(now))

    # Hand-offs can be lost (a broker restart, a process that died before its on_commit).
    requeue_after = runs_settings.REQUEUE_AFTER if requeue_after is None else requeue_after
    lost = Run.objects.ready(now).filter(
        Q(handed_off_at__isnull=True) | Q(handed_off_at__lte=now - timedelta(seconds=requeue_after))
    )
    for run_id in lost.values_list("id", flat=True)[:BATCH]:
        if Run.objects.filter(pk=run_id, worker_id="").update(handed_off_at=now):
            counts["requeued"] += 1
            executor.submit(run_id)
    return counts


def recover(run, now) -> str:
    """A run whose worker stopped heartbeating: retry it, or CRASHED past its attempts."""
    mine = {"worker_id": run.worker_id, "status": run.status}
    if run.status == RunStatus.DEQUEUED:
        # User code never started: this is no attempt, just queue it again.
        ok = move_run(
            run.id,
            RunStatus.QUEUED,
            from_statuses=[RunStatus.DEQUEUED],
            where=mine,
            worker_id="",
            heartbeat_at=None,
            ready_at=now,
            handed_off_at=now,
        )
        return "recovered" if ok else ""
    max_attempts = attempts_allowed(run)
    error = {
        "message": f"The worker running attempt {run.attempt_number} stopped responding "
        f"({run.worker_id}).",
        "name": "WorkerCrashedError",
        "stackTrace": "",
    }
    if run.attempt_number < max_attempts:
        ok = update_run(
            run.id,
            where=mine,
            worker_id="",
            heartbeat_at=None,
            ready_at=now,
            handed_off_at=now,
            error=error,
        )
        return "recovered" if ok else ""
    ok = move_run(
        run.id,
        RunStatus.CRASHED,
        from_statuses=[RunStatus.EXECUTING],
        where=mine,
        finished_at=now,
        error=error,
    )
    return "crashed" if ok else ""
