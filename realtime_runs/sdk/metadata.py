"""Run metadata from inside a task (CONTRACT.md §1). Calls are coalesced into few writes."""

import asyncio

from realtime_runs.engine.context import current_context
from realtime_runs.engine.execution import get_worker, outside_event_loop, run_in_thread


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


def stream(key, iterable):
    """Tee ``iterable`` (or an async iterable) into this run's stream ``key``.

    Iterate what it returns: each chunk is yielded on as it passes, and stored durably (with a
    ``seq``) in small batches, so subscribers with ``streams: true`` see it live.
    """
    ctx = _ctx()
    writer = ctx.stream_writer(key)
    if hasattr(iterable, "__aiter__"):
        return _tee_async(ctx, writer, iterable)
    return _tee(ctx, writer, iterable)


def _tee(ctx, writer, iterable):
    try:
        for chunk in iterable:
            ctx.raise_if_interrupted()
            if writer.add(chunk):
                outside_event_loop(writer.flush)
            yield chunk
    finally:
        outside_event_loop(writer.flush)


async def _tee_async(ctx, writer, iterable):
    try:
        async for chunk in iterable:
            ctx.raise_if_interrupted()
            if writer.add(chunk):
                await asyncio.to_thread(run_in_thread, writer.flush)
            yield chunk
    finally:
        await asyncio.to_thread(run_in_thread, writer.flush)
