"""Wait tokens and durable waits from Python (CONTRACT.md §5).

Inside a task, ``wait.for_token``, ``wait.for_duration`` and ``wait.until`` suspend the run
when they would block: the run becomes WAITING and holds no worker. When the wait is over,
the task function is called again from the top, and each durable call already made returns
its recorded result instead of running again: ``wait.*``, ``ctx.step(name, fn)``, metadata
operations and stream chunks. Code outside those calls runs again, so keep side effects in
steps.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from django.utils import timezone

from realtime_runs.conf import runs_settings
from realtime_runs.durations import parse_duration
from realtime_runs.engine import waits
from realtime_runs.engine.context import RunInterrupted, RunSuspended, current_context
from realtime_runs.engine.execution import get_worker, outside_event_loop
from realtime_runs.engine.waits import WaitpointTimeoutError, WaitResult  # noqa: F401
from realtime_runs.errors import InvalidInput


@dataclass
class TokenHandle:
    """A wait token: complete it with ``wait.complete_token(handle.id, data)``, a POST to
    ``url`` (the whole JSON body becomes the output) or the REST API with
    ``public_access_token`` (``write:waitpoints:<id>``, 24 hours)."""

    id: str
    is_cached: bool = False

    @property
    def url(self) -> str:
        return runs_settings.PUBLIC_URL.rstrip("/") + waits.callback_path(self.id)

    @cached_property
    def public_access_token(self) -> str:
        from realtime_runs.tokens import create_token

        return outside_event_loop(
            create_token,
            [f"write:waitpoints:{self.id}"],
            expiration_time=runs_settings.WAITPOINT_TOKEN_LIFETIME,
            label="wait token",
        )


def create_token(timeout=None, idempotency_key=None, idempotency_key_ttl=None, tags=None):
    """A new wait token (inside a task, created once however often the task replays)."""
    ctx = current_context()
    key = ctx.next_key("wait.create_token") if ctx else None
    if ctx and key in ctx.journal:
        recorded = ctx.journal[key]
        return TokenHandle(recorded["id"], recorded["isCached"])

    def create():
        token, cached = waits.create_token(
            timeout=timeout,
            idempotency_key=idempotency_key,
            idempotency_key_ttl=idempotency_key_ttl,
            tags=tags,
            created_by_run=ctx.run_id if ctx else None,
        )
        if ctx:
            from realtime_runs.models import RunStep

            RunStep.objects.create(
                run_id=ctx.run_id, key=key, result={"id": token.id, "isCached": cached}
            )
        return token, cached

    token, cached = outside_event_loop(create)
    if ctx:
        ctx.journal[key] = {"id": token.id, "isCached": cached}
    return TokenHandle(token.id, cached)


def _task_context(name):
    ctx = current_context()
    if ctx is None:
        raise RuntimeError(f"wait.{name}() works inside a running task")
    ctx.raise_if_interrupted()
    return ctx


def _suspend(ctx, key, **what):
    """Store what the attempt did so far, then make the run WAITING and end the attempt."""
    outside_event_loop(get_worker().flush_metadata, ctx.run_id)
    outside_event_loop(ctx.flush_streams)
    result = outside_event_loop(
        waits.suspend, ctx.run_id, ctx.worker_id, key, ctx.replay_marks(), **what
    )
    if isinstance(result, WaitResult):  # it completed while we looked
        ctx.journal[key] = result.to_json()
        return result
    if result is False:  # canceled (or timed out) under us
        raise RunInterrupted(ctx.interrupted or "CANCELED")
    raise RunSuspended()


def for_token(token) -> WaitResult:
    """Wait until the token is completed (or times out); ``.ok``, ``.output``, ``.unwrap()``."""
    ctx = _task_context("for_token")
    token_id = getattr(token, "id", token)
    key = ctx.next_key("wait.for_token")
    if key in ctx.journal:
        return WaitResult.from_json(ctx.journal[key])
    return _suspend(ctx, key, token_id=token_id)


def until(when: datetime):
    """Wait until ``when`` (an aware datetime) without holding a worker."""
    ctx = _task_context("until")
    key = ctx.next_key("wait.until")
    if key in ctx.journal:
        return None
    if timezone.is_naive(when):
        raise InvalidInput({"date": "must be an aware datetime"})
    if when <= timezone.now():
        outside_event_loop(_record, ctx, key)
        return None
    _suspend(ctx, key, wake_at=when)


def for_duration(duration):
    """Wait for a duration ("5m", or seconds) without holding a worker."""
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise InvalidInput({"duration": str(exc)}) from None
    ctx = _task_context("for_duration")
    key = ctx.next_key("wait.for_duration")
    if key in ctx.journal:
        return None
    if seconds <= 0:
        return None
    _suspend(ctx, key, wake_at=timezone.now() + timedelta(seconds=seconds))


def _record(ctx, key):
    from realtime_runs.models import RunStep

    RunStep.objects.get_or_create(run_id=ctx.run_id, key=key, defaults={"result": None})
    ctx.journal[key] = None


def complete_token(token_id, data=None) -> dict:
    """Complete a wait token with ``data`` as its output; completing twice changes nothing."""
    _, already = outside_event_loop(waits.complete_token, getattr(token_id, "id", token_id), data)
    return {"success": True, "alreadyCompleted": already}


def retrieve_token(token_id):
    """The WaitToken (``.status``, ``.output``, ``.completed_at``, ``.completed_by_*``)."""
    return outside_event_loop(waits.get_token, token_id)


def list_tokens(*, status=None, tags=None, idempotency_key=None):
    """Wait tokens, newest first, as a lazy queryset."""
    from realtime_runs.models import WaitToken, idempotency_hash

    tokens = WaitToken.objects.all()
    if status is not None:
        tokens = tokens.filter(status__in=[status] if isinstance(status, str) else status)
    for tag in [tags] if isinstance(tags, str) else tags or []:
        tokens = tokens.with_tag(tag)
    if idempotency_key is not None:
        tokens = tokens.filter(idempotency_hash=idempotency_hash(idempotency_key))
    return tokens
