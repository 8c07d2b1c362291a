"""Publishing changes to the channel layer, after commit, from any thread.

Each change is read once after its transaction commits, serialized to JSON once, and sent once
to each group it concerns (the run, each tag, the batch). Consumers paste that JSON
into their frames, so nothing is serialized per socket. Sends go through one publisher thread
with its own event loop, in order, so worker threads never block on the layer.
The layer is at-most-once: every message carries the run's ``version`` or a chunk's ``seq``,
and the database stays the source of truth.
"""

import asyncio
import json
import logging
import os
import threading
from collections import OrderedDict

from channels.layers import get_channel_layer
from django.dispatch import receiver

from realtime_runs.engine.changes import run_changed
from realtime_runs.models import Run
from realtime_runs.realtime.groups import groups_of_run, run_group, token_group

log = logging.getLogger(__name__)


def dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def run_message(run: Run) -> dict:
    """The layer message for a run's current state."""
    data = run.to_dict()
    return {
        "type": "run.changed",
        "run_id": run.id,
        "version": run.version,
        "status": run.status,
        "tags": list(run.tags),
        "batch_id": run.batch_id,
        "created_at": run.created_at.timestamp(),
        "json": dumps(data),
    }


class Publisher:
    def __init__(self):
        self._loop = None
        self._queue = None
        self._pid = None
        self._lock = threading.Lock()
        self._sent_versions: OrderedDict[str, int] = OrderedDict()
        self._pending = 0
        self._idle = threading.Condition()

    def _ensure_started(self):
        with self._lock:
            if self._loop is not None and self._pid == os.getpid():
                return
            ready = threading.Event()
            self._pid = os.getpid()

            def run():
                self._loop = asyncio.new_event_loop()
                self._queue = asyncio.Queue()
                ready.set()
                self._loop.run_until_complete(self._pump())

            threading.Thread(target=run, name="realtime-publisher", daemon=True).start()
            ready.wait()

    def send(self, groups, message):
        """Queue ``message`` for ``groups``; returns at once."""
        self._ensure_started()
        with self._idle:
            self._pending += 1
        self._loop.call_soon_threadsafe(self._queue.put_nowait, (groups, message))

    def wait_idle(self, timeout=5.0) -> bool:
        """Block until everything queued so far was handed to the layer (tests, shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    async def _pump(self):
        layer = get_channel_layer()
        while True:
            groups, message = await self._queue.get()
            try:
                for group in groups:
                    # The group rides along: a process's hub fans it out to local sessions.
                    await layer.group_send(group, {**message, "group": group})
            except Exception:  # the layer is at-most-once anyway: log and go on
                log.exception("publishing to %s failed", groups[:1])
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def publish_run(self, run: Run):
        """Send the run as a change left it (serialized once) to every group it concerns."""
        with self._lock:
            # Two announcements of one version (never expected, but cheap to refuse): send once.
            if self._sent_versions.get(run.id, 0) >= run.version:
                return
            self._sent_versions[run.id] = run.version
            self._sent_versions.move_to_end(run.id)
            while len(self._sent_versions) > 10_000:
                self._sent_versions.popitem(last=False)
        groups = groups_of_run(run.id, run.tags, run.batch_id)
        self.send(groups, run_message(run))


publisher = Publisher()


@receiver(run_changed, dispatch_uid="realtime_runs.publish_run_changed")
def publish_run_changed(sender, run, **kwargs):
    """Send a run's new state to everyone watching it (called after commit)."""
    publisher.publish_run(run)


def publish_stream_chunks(run_id, key, chunks):
    """Send stream chunks ``[(seq, json_text), …]`` of a run (after they are stored)."""
    publisher.send(
        [run_group(run_id)],
        {"type": "run.stream", "run_id": run_id, "stream": key, "chunks": list(chunks)},
    )


def announce_token_revoked(jti):
    """End the live subscriptions made with this token (they also recheck it periodically)."""
    publisher.send([token_group(jti)], {"type": "token.revoked", "jti": jti})
