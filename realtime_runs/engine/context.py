"""The run context: what a task function sees as ``ctx``, and what the SDK finds in a run."""

import contextvars
import threading
import time
from dataclasses import dataclass, field

from realtime_runs.conf import runs_settings
from realtime_runs.engine.metadata import apply_operations

_current: contextvars.ContextVar["RunContext | None"] = contextvars.ContextVar(
    "realtime_runs_context", default=None
)


class RunInterrupted(BaseException):  # noqa: N818  (like CancelledError, not an Exception)
    """Raised inside a task whose run was canceled or timed out, to stop its code.

    A BaseException, so that a task's own ``except Exception`` does not swallow it.
    """

    def __init__(self, status="CANCELED"):
        super().__init__(f"The run was {status.lower().replace('_', ' ')}.")
        self.status = status


@dataclass
class RunContext:
    run_id: str
    task_id: str
    attempt: int
    payload: object = None
    tags: list = field(default_factory=list)
    batch_id: str | None = None
    is_test: bool = False
    max_attempts: int = 1
    # A local view of the metadata, with the operations not yet written to the database.
    metadata: dict = field(default_factory=dict)
    pending_ops: list = field(default_factory=list)
    streams: dict = field(default_factory=dict)  # key → StreamWriter
    interrupted: str = ""  # the status that stopped this run (CANCELED, TIMED_OUT), or ""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # Held while pending operations are taken and written, so writes keep their order.
    flush_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    last_flush: float = field(default_factory=time.monotonic, repr=False)

    @property
    def is_last_attempt(self):
        return self.attempt >= self.max_attempts

    def raise_if_interrupted(self):
        """Stop the task here if its run was canceled or timed out."""
        if self.interrupted:
            raise RunInterrupted(self.interrupted)

    def apply_metadata(self, operations):
        """Apply operations locally now; the worker writes them, coalesced, shortly after."""
        self.raise_if_interrupted()
        with self.lock:
            self.metadata = apply_operations(
                self.metadata, operations, runs_settings.MAX_METADATA_BYTES
            )
            self.pending_ops.extend(operations)

    def stream_writer(self, key):
        from realtime_runs.engine.streams import StreamWriter, validate_key

        if key not in self.streams:
            validate_key(key)
            self.streams[key] = StreamWriter(self.run_id, key)
        return self.streams[key]

    def flush_streams(self):
        for writer in self.streams.values():
            writer.flush()

    def take_pending(self):
        with self.lock:
            ops, self.pending_ops = self.pending_ops, []
            self.last_flush = time.monotonic()
            return ops

    def __enter__(self):
        self._token = _current.set(self)
        return self

    def __exit__(self, *exc):
        _current.reset(self._token)


def current_context() -> RunContext | None:
    return _current.get()
