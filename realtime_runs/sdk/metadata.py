"""Run metadata from inside a task (CONTRACT.md §1). Calls are coalesced into few writes."""

from realtime_runs.engine.context import current_context
from realtime_runs.engine.execution import get_worker, outside_event_loop


def _ctx():
    ctx = current_context()
    if ctx is None:
        raise RuntimeError(
            "metadata.* works inside a running task; from elsewhere use "
            "runs.update_metadata(run_id, operations)"
        )
    return ctx


def _apply(op):
    _ctx().apply_metadata([op])


def set(key, value):  # noqa: A001
    _apply({"type": "set", "key": key, "value": value})


def delete(key):
    _apply({"type": "delete", "key": key})


def append(key, value):
    _apply({"type": "append", "key": key, "value": value})


def remove(key, value):
    _apply({"type": "remove", "key": key, "value": value})


def increment(key, n=1):
    _apply({"type": "increment", "key": key, "value": n})


def decrement(key, n=1):
    _apply({"type": "decrement", "key": key, "value": n})


def replace(obj):
    _apply({"type": "replace", "value": obj})


def get(key, default=None):
    """A top-level key of this run's metadata, as the task last set it."""
    return _ctx().metadata.get(key, default)


def current() -> dict:
    """A copy of this run's whole metadata, as the task last set it."""
    return dict(_ctx().metadata)


def flush():
    """Write the buffered operations now instead of at the next coalescing tick."""
    ctx = _ctx()
    ctx.raise_if_interrupted()
    outside_event_loop(get_worker().flush_metadata, ctx.run_id)
