"""Executing runs: claim, run the task function in a context, record the outcome.

Each process that executes runs has one ``Worker``. Its ticker thread heartbeats the runs it
holds, writes their metadata (coalesced), and stops those that were canceled or ran past their
``maxDuration``. The database decides who may run what: a claim is a conditional update.
"""

import asyncio
import concurrent.futures
import ctypes
import logging
import os
import random
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import close_old_connections, connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from realtime_runs import ids
from realtime_runs.conf import runs_settings
from realtime_runs.engine.changes import announce, move_run, update_run
from realtime_runs.engine.context import RunContext, RunInterrupted, RunSuspended
from realtime_runs.engine.jsonvalue import strict_json, without_nul
from realtime_runs.engine.metadata import apply_operations
from realtime_runs.errors import InvalidInput, NotFound, TooLarge, Unprocessable
from realtime_runs.models import FINAL_STATUSES, Run, RunStatus, RunStep
from realtime_runs.registry import TaskNotFound, get_task

log = logging.getLogger(__name__)


class AbortTaskRunError(Exception):
    """Raise inside a task to fail its run at once, without further attempts."""


def error_object(exc: BaseException) -> dict:
    return {
        "message": without_nul(str(exc) or type(exc).__name__),
        "name": type(exc).__name__,
        "stackTrace": without_nul("".join(traceback.format_exception(exc))),
    }


def write_metadata(run_id, operations) -> dict:
    """Apply metadata operations to the stored run, atomically; returns the new metadata."""
    with transaction.atomic():
        run = (
            Run.objects.select_for_update()
            .filter(pk=run_id)
            .only("metadata", "status", "finished_at")
            .first()
        )
        if run is None:
            raise NotFound(f"No run with the id {run_id!r}.", code="run_not_found")
        window = timedelta(seconds=runs_settings.METADATA_WRITABLE_AFTER_FINISH)
        if run.is_final and run.finished_at and run.finished_at < timezone.now() - window:
            raise Unprocessable(
                f"Run {run_id} finished more than {window} ago; its metadata is read-only now.",
                code="metadata_read_only",
            )
        metadata = apply_operations(run.metadata, operations, runs_settings.MAX_METADATA_BYTES)
        update_run(run_id, metadata=metadata)
    return metadata


def outside_event_loop(fn, *args, **kwargs):
    """Call blocking ``fn`` (ORM work) from an async task's thread without tripping Django's
    async-safety check: the task's loop is its own, so blocking it briefly is fine."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn(*args, **kwargs)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run_in_thread, fn, *args, **kwargs).result()


def run_in_thread(fn, *args, **kwargs):
    """Call ``fn`` in a helper thread, closing the database connection it opened."""
    try:
        return fn(*args, **kwargs)
    finally:
        connection.close()


@dataclass
class Attempt:
    """One attempt in progress in this process."""

    ctx: RunContext
    thread_id: int
    deadline: object = None  # aware datetime past which the run is TIMED_OUT
    loop: object = None  # for async tasks: the loop and task to cancel
    task: object = None
    is_async: bool = False
    in_user_code: bool = False
    injected: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


def _raise_in_thread(thread_id, exc_type):
    """Raise ``exc_type`` in another thread at its next Python instruction (None clears it)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc_type) if exc_type else None
    )


class Worker:
    def __init__(self, name="worker"):
        self.id = f"{name}:{socket.gethostname()}:{os.getpid()}:{ids.make_id('w', 6)}"
        self.running: dict[str, Attempt] = {}
        self._lock = threading.Lock()
        self._ticker = None
        self._stop = threading.Event()

    # -- executing -------------------------------------------------------------------------

    def execute(self, run_id) -> str:
        """Run one attempt of ``run_id`` if it can be claimed; returns what happened."""
        now = timezone.now()
        if move_run(
            run_id,
            RunStatus.EXPIRED,
            from_statuses=[RunStatus.QUEUED],
            where={"worker_id": "", "expire_at__lte": now},
            expired_at=now,
            finished_at=now,
        ):
            return "expired"
        with transaction.atomic():
            claimed = (
                Run.objects.ready(now)
                .filter(pk=run_id)
                .filter(Q(expire_at__isnull=True) | Q(expire_at__gt=now))
                .update(
                    worker_id=self.id,
                    heartbeat_at=now,
                    ready_at=None,
                    status=Case(
                        When(status=RunStatus.QUEUED, then=Value(RunStatus.DEQUEUED)),
                        default=F("status"),
                    ),
                    version=F("version") + 1,
                    updated_at=now,
                )
            )
            if claimed:
                announce(Run.objects.get(pk=run_id))
        if not claimed:
            # A run waking from wait.for_duration arrives here at its time: wake it, and the
            # hand-off that follows claims it.
            from realtime_runs.engine.waits import wake_due

            return "woken" if wake_due(run_id) else "not-claimed"
        return self._run_attempt(run_id)

    def _run_attempt(self, run_id) -> str:
        now = timezone.now()
        mine = {"worker_id": self.id}
        # A move, not a plain update: a cancel may land between the claim and here, and a
        # canceled run must stay canceled (a final status never changes).
        if not move_run(
            run_id,
            RunStatus.EXECUTING,
            where=mine,
            # A run going on after a wait continues its attempt; anything else starts one.
            attempt_number=Case(
                When(suspended_at__isnull=False, then=F("attempt_number")),
                default=F("attempt_number") + 1,
            ),
            suspended_at=None,
            started_at=Coalesce(F("started_at"), Value(now)),
            base_cost_in_cents=runs_settings.BASE_COST_IN_CENTS,
        ):
            return "not-started"
        run = Run.objects.get(pk=run_id)
        try:
            task = get_task(run.task_identifier)
        except TaskNotFound as exc:
            self._finish(run, RunStatus.SYSTEM_FAILURE, error=error_object(exc), elapsed=0)
            return "system-failure"
        max_attempts = attempts_allowed(run, task)
        ctx = RunContext(
            run_id=run.id,
            task_id=run.task_identifier,
            attempt=run.attempt_number,
            payload=run.payload,
            tags=list(run.tags),
            batch_id=run.batch_id,
            is_test=run.is_test,
            max_attempts=max_attempts,
            metadata=dict(run.metadata),
            worker_id=self.id,
            journal=dict(RunStep.objects.filter(run_id=run.id).values_list("key", "result")),
            marks=dict(run.replay_marks),
        )
        attempt = Attempt(ctx=ctx, thread_id=threading.get_ident(), is_async=task.is_async)
        if run.max_duration:
            attempt.deadline = run.started_at + timedelta(seconds=run.max_duration)
        with self._lock:
            self.running[run_id] = attempt
        self._ensure_ticker()
        started = time.monotonic()
        output, error, suspended = None, None, False
        try:
            try:
                with attempt.lock:
                    attempt.in_user_code = True
                # interrupt() injects nothing before user code starts; a cancel that came in
                # that window only set ``interrupted``, so honour it here.
                ctx.raise_if_interrupted()
                with ctx:
                    output = self._call(task, attempt)
            finally:
                with attempt.lock:
                    attempt.in_user_code = False
                    if attempt.injected:
                        _raise_in_thread(attempt.thread_id, None)
        except RunInterrupted:
            pass
        except RunSuspended:
            suspended = True
        except asyncio.CancelledError as exc:
            if not ctx.interrupted:
                error = exc
        except Exception as exc:  # a task's failure is data, not a worker crash
            error = exc
        finally:
            elapsed = time.monotonic() - started
            with self._lock:
                self.running.pop(run_id, None)
        with ctx.flush_lock:  # after any flush the ticker is in the middle of
            if suspended:
                self._account(run_id, ctx.take_pending(), elapsed)
                return "waiting"
            return self._record(run, task, ctx, output, error, elapsed)

    def _call(self, task, attempt):
        payload, ctx = attempt.ctx.payload, attempt.ctx
        if not task.is_async:
            return task.fn(payload, ctx)

        async def main():
            attempt.loop = asyncio.get_running_loop()
            attempt.task = asyncio.current_task()
            if ctx.interrupted:
                raise RunInterrupted(ctx.interrupted)
            return await task.fn(payload, ctx)

        return asyncio.run(main())

    def _record(self, run, task, ctx, output, error, elapsed) -> str:
        try:
            # Chunks are stored (and published) before the status that ends the run.
            ctx.flush_streams()
        except Exception as exc:
            log.exception("stream chunks of %s not written", run.id)
            error = error or exc
        ops = ctx.take_pending()
        if ctx.interrupted:
            # Already final (CANCELED, TIMED_OUT); keep what it wrote and its compute time.
            self._account(run.id, ops, elapsed)
            return ctx.interrupted.lower()
        if error is None:
            try:
                _check_output(output)
            except (TypeError, ValueError) as exc:
                error = AbortTaskRunError(str(exc))
        if error is None:
            done = self._finish(run, RunStatus.COMPLETED, output=output, ops=ops, elapsed=elapsed)
            return "completed" if done else self._lost(run, ops, elapsed)
        retryable = not isinstance(error, AbortTaskRunError) and not ctx.is_last_attempt
        if retryable:
            delay = task.retry.delay(ctx.attempt, random.random())
            retry_at = timezone.now() + timedelta(seconds=delay)
            if self._release_for_retry(run, ctx, ops, elapsed, error, retry_at):
                from realtime_runs.engine.executors import get_executor

                get_executor().submit(run.id, retry_at)
                return "retrying"
            return self._lost(run, ops, elapsed)
        done = self._finish(
            run, RunStatus.FAILED, error=error_object(error), ops=ops, elapsed=elapsed
        )
        return "failed" if done else self._lost(run, ops, elapsed)

    def _lost(self, run, ops, elapsed):
        """The run ended elsewhere (canceled, timed out) as its task finished: still count
        the compute time and keep what the attempt wrote."""
        self._account(run.id, ops, elapsed)
        return "lost"

    def _cost_fields(self, run, elapsed):
        duration_ms = run.duration_ms + round(elapsed * 1000)
        return {
            "duration_ms": duration_ms,
            "cost_in_cents": duration_ms / 1000 * runs_settings.COST_PER_SECOND_IN_CENTS,
        }

    def _finish(self, run, status, *, output=None, error=None, ops=(), elapsed=0.0) -> bool:
        """Write a final status, with the pending metadata, if this worker still holds the run."""
        with transaction.atomic():
            fields = {
                "output": output,
                "error": error,
                "finished_at": timezone.now(),
                **self._cost_fields(run, elapsed),
            }
            if ops:
                stored = Run.objects.select_for_update().only("metadata").get(pk=run.id)
                fields["metadata"] = _apply_leniently(stored.metadata, ops)
            return move_run(
                run.id,
                status,
                from_statuses=[RunStatus.EXECUTING],
                where={"worker_id": self.id},
                **fields,
            )

    def _release_for_retry(self, run, ctx, ops, elapsed, error, retry_at) -> bool:
        with transaction.atomic():
            fields = {
                "error": error_object(error),
                "worker_id": "",
                "heartbeat_at": None,
                "ready_at": retry_at,
                "handed_off_at": timezone.now(),
                **self._cost_fields(run, elapsed),
            }
            if ops:
                stored = Run.objects.select_for_update().only("metadata").get(pk=run.id)
                fields["metadata"] = _apply_leniently(stored.metadata, ops)
            return update_run(
                run.id, where={"status": RunStatus.EXECUTING, "worker_id": self.id}, **fields
            )

    def _account(self, run_id, ops, elapsed):
        """Record the compute time and metadata of an attempt whose run already ended."""
        with transaction.atomic():
            run = Run.objects.select_for_update().only("metadata", "duration_ms").get(pk=run_id)
            fields = self._cost_fields(run, elapsed)
            if ops:
                fields["metadata"] = _apply_leniently(run.metadata, ops)
            update_run(run_id, **fields)

    # -- stopping runs ---------------------------------------------------------------------

    def interrupt(self, run_id, status):
        """Stop the attempt of ``run_id`` in this process, if there is one."""
        with self._lock:
            attempt = self.running.get(run_id)
        if attempt is None or attempt.ctx.interrupted:
            return
        attempt.ctx.interrupted = status
        if attempt.is_async:
            # The task checks ``interrupted`` when it starts; once running, cancel it.
            if attempt.loop is not None:
                try:
                    attempt.loop.call_soon_threadsafe(attempt.task.cancel)
                except RuntimeError:  # the loop already closed: the attempt is over
                    pass
            return
        with attempt.lock:
            if attempt.in_user_code and not attempt.injected:
                attempt.injected = True
                _raise_in_thread(attempt.thread_id, RunInterrupted)

    # -- the ticker ------------------------------------------------------------------------

    def _ensure_ticker(self):
        with self._lock:
            if self._ticker is None or not self._ticker.is_alive():
                self._stop.clear()
                self._ticker = threading.Thread(
                    target=self._tick_forever, name="realtime-runs-ticker", daemon=True
                )
                self._ticker.start()

    def stop(self):
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)

    def _tick_forever(self):
        period = min(runs_settings.METADATA_FLUSH_INTERVAL, runs_settings.HEARTBEAT_INTERVAL)
        last_beat = 0.0
        try:
            while not self._stop.wait(period):
                close_old_connections()
                try:
                    self.flush_metadata()
                    if time.monotonic() - last_beat >= runs_settings.HEARTBEAT_INTERVAL:
                        last_beat = time.monotonic()
                        self.heartbeat()
                except Exception:  # keep ticking: the next tick retries
                    log.exception("worker tick failed")
        finally:
            connection.close()

    def flush_metadata(self, only=None):
        """Write the metadata operations the running attempts have buffered."""
        with self._lock:
            attempts = [a for rid, a in self.running.items() if only in (None, rid)]
        for attempt in attempts:
            # Taking and writing under one lock: the ticker and metadata.flush() both flush,
            # and operations taken later must not be written before those taken earlier.
            with attempt.ctx.flush_lock:
                ops = attempt.ctx.take_pending()
                if ops:
                    try:
                        write_metadata(attempt.ctx.run_id, ops)
                    except (NotFound, Unprocessable, TooLarge) as exc:
                        log.warning("metadata of %s not written: %s", attempt.ctx.run_id, exc)

    def heartbeat(self):
        """Touch the runs this worker holds; stop those that ended elsewhere or ran too long."""
        with self._lock:
            attempts = dict(self.running)
        if not attempts:
            return
        now = timezone.now()
        Run.objects.filter(pk__in=list(attempts), worker_id=self.id).update(heartbeat_at=now)
        stored = Run.objects.filter(pk__in=list(attempts)).values_list("id", "status", "worker_id")
        for run_id, status, worker_id in stored:
            if status in FINAL_STATUSES or worker_id != self.id:
                self.interrupt(run_id, status if status in FINAL_STATUSES else RunStatus.CRASHED)
        # A run deleted under its attempt (the admin, a cleanup): its code has nothing to do.
        for run_id in set(attempts) - {run_id for run_id, _, _ in stored}:
            self.interrupt(run_id, RunStatus.CANCELED)
        for run_id, attempt in attempts.items():
            if attempt.deadline and attempt.deadline <= now:
                time_out(run_id, attempt.deadline, where={"worker_id": self.id})
                self.interrupt(run_id, RunStatus.TIMED_OUT)


def attempts_allowed(run, task=None) -> int:
    """How many attempts a run gets: its trigger's maxAttempts, its task's, or the default."""
    if task is None:
        try:
            task = get_task(run.task_identifier)
        except TaskNotFound:
            task = None
    task_max = task.max_attempts if task is not None else None
    return run.max_attempts or task_max or runs_settings.DEFAULT_MAX_ATTEMPTS


def time_out(run_id, deadline, where=None) -> bool:
    """Mark an executing run TIMED_OUT: it passed its ``maxDuration``."""
    return move_run(
        run_id,
        RunStatus.TIMED_OUT,
        from_statuses=[RunStatus.EXECUTING, RunStatus.WAITING],
        where=where,
        finished_at=timezone.now(),
        error={
            "message": f"The run exceeded its maxDuration (deadline {deadline.isoformat()}).",
            "name": "MaxDurationExceededError",
            "stackTrace": "",
        },
    )


def _apply_leniently(metadata, ops):
    """Ops were validated when the task made them; apply them to the stored copy as they come."""
    return apply_operations(metadata, ops, limit=runs_settings.MAX_METADATA_BYTES * 2)


def _check_output(output):
    try:
        size = len(strict_json(output, "output").encode())
    except InvalidInput as exc:
        raise ValueError(
            f"The task returned an output that cannot be stored: {exc.message}"
        ) from None

    if size > runs_settings.MAX_PAYLOAD_BYTES:
        raise ValueError(
            f"The task returned {size} bytes of output; the limit is "
            f"{runs_settings.MAX_PAYLOAD_BYTES} bytes."
        )


_worker: Worker | None = None
_worker_pid = None
_worker_lock = threading.Lock()


def get_worker() -> Worker:
    """This process's worker (a new one after a fork: threads do not survive it)."""
    global _worker, _worker_pid
    with _worker_lock:
        if _worker is None or _worker_pid != os.getpid():
            _worker, _worker_pid = Worker(runs_settings.EXECUTOR), os.getpid()
        return _worker
