"""Reading and operating runs from Python: ``runs.retrieve``, ``list``, ``cancel``, ``replay``."""

from realtime_runs import engine
from realtime_runs.engine.execution import outside_event_loop
from realtime_runs.models import Run
from realtime_runs.sdk.subscriptions import (  # noqa: F401  (the SDK's names)
    subscribe_to_batch,
    subscribe_to_run,
    subscribe_to_runs_with_tag,
)
from realtime_runs.sdk.tasks import RunHandle


def retrieve(run_id) -> Run:
    """The run (a model instance; ``.to_dict()`` gives the run object)."""
    return outside_event_loop(engine.get_run, run_id)


def list(  # noqa: A001  (the contract's name)
    *,
    status=None,
    task_identifier=None,
    tag=None,
    created_from=None,
    created_to=None,
    batch_id=None,
):
    """Runs, newest first, as a lazy queryset; each filter takes one value or a list."""
    queryset = Run.objects.all()
    for field, value in (
        ("status", status),
        ("task_identifier", task_identifier),
        ("batch_id", batch_id),
    ):
        if value is not None:
            values = [value] if isinstance(value, str) else value
            queryset = queryset.filter(**{f"{field}__in": values})
    if tag is not None:
        for name in [tag] if isinstance(tag, str) else tag:
            queryset = queryset.with_tag(name)
    if created_from is not None:
        queryset = queryset.filter(created_at__gte=created_from)
    if created_to is not None:
        queryset = queryset.filter(created_at__lte=created_to)
    return queryset


def cancel(run_id) -> Run:
    return outside_event_loop(engine.cancel, run_id)


def replay(run_id) -> RunHandle:
    result = outside_event_loop(engine.replay, run_id)
    return RunHandle(result.run.id, False, result.run.task_identifier)


def update_metadata(run_id, operations) -> dict:
    """Apply metadata operations to any run from outside it; returns the new metadata."""
    return outside_event_loop(engine.write_metadata, run_id, operations)
