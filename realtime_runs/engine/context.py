"""The run context: what a task function sees as ``ctx``, and what the SDK finds in a run."""

import contextvars
import inspect
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


class RunSuspended(BaseException):  # noqa: N818
    """Raised inside a task whose run now waits: the attempt ends here and holds nothing.

    When the wait is over, the task function is called again and replays up to this point.
    """


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
    worker_id: str = ""
    # Durable replay: recorded results by key, and how many metadata operations and stream
    # chunks earlier attempts had done when the run last suspended (those are not redone).
    journal: dict = field(default_factory=dict)
    marks: dict = field(default_factory=dict)
    metadata_index: int = 0
    key_counts: dict = field(default_factory=dict)
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
        replayed = self.marks.get("metadata", 0)
        fresh = []
        for op in operations:
            self.metadata_index += 1
            if self.metadata_index > replayed:
                fresh.append(op)
        operations = fresh
        if not operations:
            return  # already done before the run last waited: its effect is stored
        with self.lock:
            self.metadata = apply_operations(
                self.metadata, operations, runs_settings.MAX_METADATA_BYTES
            )
            self.pending_ops.extend(operations)

    def stream_writer(self, key):
        from realtime_runs.engine.streams import StreamWriter, validate_key

        if key not in self.streams:
            validate_key(key)
            replayed = self.marks.get("streams", {}).get(key, 0)
            self.streams[key] = StreamWriter(self.run_id, key, replayed=replayed)
        return self.streams[key]

    def next_key(self, kind, name=""):
        """The journal key of the next durable call of this kind (and name), in call order."""
        base = f"{kind}:{name}" if name else kind
        self.key_counts[base] = self.key_counts.get(base, 0) + 1
        count = self.key_counts[base]
        return base if count == 1 else f"{base}#{count}"

    def replay_marks(self):
        """How far this attempt has come: stored with the run when it suspends."""
        return {
            "metadata": self.metadata_index,
            "streams": {key: writer.produced for key, writer in self.streams.items()},
        }

    def step(self, name, fn):
        """Run ``fn()`` once for this run: on replay, return the result it gave (JSON)."""
        from realtime_runs.engine.execution import outside_event_loop
        from realtime_runs.models import RunStep

        self.raise_if_interrupted()
        key = self.next_key("step", name)
        if key in self.journal:
            return self.journal[key]

        def record(value):
            outside_event_loop(RunStep.objects.create, run_id=self.run_id, key=key, result=value)
            self.journal[key] = value
            return value

        value = fn()
        if inspect.isawaitable(value):

            async def finish():
                return record(await value)

            return finish()
        return record(value)

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
