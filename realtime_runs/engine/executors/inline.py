"""The embedded executor: worker threads inside this process (development and small installs).

Run ids arrive in a local queue; a scheduler thread holds retries until they are due and runs
the sweep. When idle it also looks for ready runs in the database, so runs triggered by another
process (``manage.py shell``), or left over from before a restart, are picked up within a
sweep interval.
"""

import heapq
import logging
import os
import queue
import socket
import threading
import time

from django.db import close_old_connections, connection
from django.utils import timezone

from realtime_runs.conf import runs_settings
from realtime_runs.engine.executors import Executor

log = logging.getLogger(__name__)


class InlineExecutor(Executor):
    name = "inline"

    def __init__(self):
        self._queue: queue.Queue = queue.Queue()
        self._pending: set[str] = set()
        self._later: list[tuple[float, str]] = []
        self._lock = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    @property
    def started(self):
        return bool(self._threads)

    def submit(self, run_id, eta=None):
        with self._lock:
            if eta is not None and eta > timezone.now():
                heapq.heappush(self._later, (eta.timestamp(), run_id))
                self._lock.notify_all()
                return
            if run_id in self._pending:
                return
            self._pending.add(run_id)
        self._queue.put(run_id)

    def start(self):
        if self.started:
            return
        from realtime_runs.engine.execution import get_worker

        self._stopping.clear()
        self.worker = get_worker()
        self._recover_dead_local_workers()
        for index in range(runs_settings.INLINE_WORKERS):
            self._spawn(self._work, f"realtime-runs-worker-{index}")
        self._spawn(self._schedule, "realtime-runs-scheduler")
        log.info("inline executor started with %d threads", runs_settings.INLINE_WORKERS)

    def stop(self, timeout=10.0):
        if not self.started:
            return
        self._stopping.set()
        with self._lock:
            self._lock.notify_all()
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []
        self.worker.stop()
        with self._lock:
            self._pending.clear()
            self._later.clear()
        self._queue = queue.Queue()

    def _spawn(self, target, name):
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _work(self):
        try:
            while True:
                run_id = self._queue.get()
                if run_id is None or self._stopping.is_set():
                    return
                with self._lock:
                    self._pending.discard(run_id)
                close_old_connections()
                try:
                    self.worker.execute(run_id)
                except Exception:
                    log.exception("executing %s failed", run_id)
        finally:
            connection.close()

    def _schedule(self):
        from realtime_runs.engine.sweep import sweep

        next_sweep = 0.0
        try:
            while not self._stopping.is_set():
                now = time.time()
                due = []
                with self._lock:
                    while self._later and self._later[0][0] <= now:
                        due.append(heapq.heappop(self._later)[1])
                for run_id in due:
                    self.submit(run_id)
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + runs_settings.SWEEP_INTERVAL
                    close_old_connections()
                    try:
                        sweep()
                        self._poll_when_idle()
                    except Exception:
                        log.exception("sweep failed")
                with self._lock:
                    wait = next_sweep - time.monotonic()
                    if self._later:
                        wait = min(wait, self._later[0][0] - time.time())
                    self._lock.wait(max(0.01, wait))
        finally:
            connection.close()

    def _poll_when_idle(self):
        from realtime_runs.models import Run

        with self._lock:
            busy = bool(self._pending)
        if busy:
            return
        limit = runs_settings.INLINE_WORKERS * 8
        for run_id in Run.objects.ready().order_by("ready_at").values_list("id", flat=True)[:limit]:
            self.submit(run_id)

    def _recover_dead_local_workers(self):
        """Runs held by an inline worker of this host whose process is gone: recover them now,
        rather than after the heartbeat timeout (the embedded default restarts often)."""
        from realtime_runs.engine.sweep import recover
        from realtime_runs.models import Run, RunStatus

        prefix = f"inline:{socket.gethostname()}:"
        held = Run.objects.filter(
            status__in=[RunStatus.DEQUEUED, RunStatus.EXECUTING], worker_id__startswith=prefix
        )
        now = timezone.now()
        for run in held.only(
            "id", "status", "worker_id", "attempt_number", "max_attempts", "task_identifier"
        ):
            try:
                pid = int(run.worker_id.split(":")[2])
            except (IndexError, ValueError):
                continue  # not a worker id this code wrote: the heartbeat timeout handles it
            if pid != os.getpid() and not _alive(pid) and recover(run, now) == "recovered":
                self.submit(run.id)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
