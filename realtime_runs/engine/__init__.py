"""The run engine: the only code that changes runs. The SDK and the REST API call these."""

from django.db import transaction
from django.utils import timezone

from realtime_runs.engine.changes import move_run, run_changed
from realtime_runs.engine.execution import AbortTaskRunError, get_worker, write_metadata
from realtime_runs.engine.trigger import Triggered, batch_trigger, trigger
from realtime_runs.errors import NotFound, Unprocessable
from realtime_runs.models import ACTIVE_STATUSES, Run, RunStatus

__all__ = [
    "AbortTaskRunError",
    "Triggered",
    "batch_trigger",
    "cancel",
    "get_run",
    "replay",
    "run_changed",
    "trigger",
    "write_metadata",
]


def get_run(run_id) -> Run:
    """The run, or NotFound (404)."""
    usable = isinstance(run_id, str) and "\x00" not in run_id  # PostgreSQL refuses NUL
    run = Run.objects.filter(pk=run_id).first() if usable else None
    if run is None:
        raise NotFound(f"No run with the id {run_id!r}.", code="run_not_found")
    return run


def cancel(run_id) -> Run:
    """Cancel a run that has not finished: at once if it waits, at its next check if it runs."""
    run = get_run(run_id)
    with transaction.atomic():
        canceled = move_run(
            run_id,
            RunStatus.CANCELED,
            from_statuses=list(ACTIVE_STATUSES),
            finished_at=timezone.now(),
        )
    run.refresh_from_db()
    if not canceled and run.status != RunStatus.CANCELED:
        raise Unprocessable(
            f"Run {run_id} is already {run.status}; only a run that has not finished can be "
            "canceled.",
            code="run_finished",
        )
    # If it executes in this process, stop it now rather than at the next heartbeat.
    get_worker().interrupt(run_id, RunStatus.CANCELED)
    return run


def replay(run_id) -> Triggered:
    """A new run of the same task with the same payload and tags."""
    original = get_run(run_id)
    options = {"tags": original.tags} if original.tags else {}
    if original.is_test:
        options["test"] = True
    return trigger(original.task_identifier, original.payload, options, replayed_from=original)
