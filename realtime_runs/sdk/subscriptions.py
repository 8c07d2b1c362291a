"""Following runs live from Python, in this process: ``for run in runs.subscribe_to_run(id)``.

A feed drives the same Session as the websocket consumer, over the channel layer, as a
trusted server-side client (no token needed). Iterate with ``for`` or ``async for``; a run feed
ends by itself when the run is final, tag and batch feeds when the loop stops.
"""

import asyncio
import json
import os
import threading

from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers, get_channel_layer

from realtime_runs.errors import RunsError
from realtime_runs.realtime.hub import get_hub
from realtime_runs.realtime.layers import InMemoryChannelLayer
from realtime_runs.realtime.session import Session
from realtime_runs.sdk.objects import Part, RunObject

_STATUS = {"not_found": 404, "forbidden": 403, "unauthorized": 401, "invalid": 400}


class SubscriptionError(RunsError):
    """A subscription was refused or ended by the server (``code`` as in the protocol)."""


def _error(code, message):
    return SubscriptionError(message, code=code, status=_STATUS.get(code, 400))


class _LoopThread:
    """The SDK's own event loop, in a thread: every feed of this process runs on it.

    One loop (and, for Redis, one channel layer of its own) because channels-redis lets a
    layer receive on one loop only, and the server's consumers already use the shared one.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._loop = None
        self._pid = None
        self._layer = None

    def loop(self):
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                self._loop, self._pid, self._layer = asyncio.new_event_loop(), os.getpid(), None
                threading.Thread(
                    target=self._loop.run_forever, name="realtime-sdk-loop", daemon=True
                ).start()
            return self._loop

    def layer(self):
        shared = get_channel_layer()
        if isinstance(shared, InMemoryChannelLayer):
            return shared  # groups live in that one instance; it is safe across loops
        with self._lock:
            if self._layer is None:
                self._layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
            return self._layer


_thread = _LoopThread()


class Feed:
    def __init__(self, subscribe: dict, parts=False):
        self._subscribe = {"type": "subscribe", "id": "feed", **subscribe}
        self._parts = parts

    def with_streams(self) -> "Feed":
        """Also yield stream chunks: each item is a Part whose ``type`` is "run" or a key."""
        return Feed({**self._subscribe, "streams": True}, parts=True)

    def __iter__(self):
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError("inside async code, iterate this feed with `async for`")
        loop = _thread.loop()
        frames = self._frames()
        try:
            while True:
                try:
                    item = asyncio.run_coroutine_threadsafe(frames.__anext__(), loop).result()
                except StopAsyncIteration:
                    return
                yield item
        finally:
            asyncio.run_coroutine_threadsafe(frames.aclose(), loop)

    async def __aiter__(self):
        loop = _thread.loop()
        frames = self._frames()
        try:
            while True:
                future = asyncio.run_coroutine_threadsafe(frames.__anext__(), loop)
                try:
                    item = await asyncio.wrap_future(future)
                except StopAsyncIteration:
                    return
                yield item
        finally:
            asyncio.run_coroutine_threadsafe(frames.aclose(), loop)

    async def _frames(self):
        """The feed itself, on the SDK loop: a Session of its own on the loop's hub."""
        frames: asyncio.Queue = asyncio.Queue()
        session = Session(frames.put, get_hub(_thread.layer()), staff=True)
        try:
            session.post_client(dict(self._subscribe))
            while True:
                frame = json.loads(await frames.get())
                kind = frame["type"]
                if kind == "run":
                    run = RunObject(frame["run"])
                    yield Part("run", run.id, run=run) if self._parts else run
                elif kind == "stream" and self._parts:
                    yield Part(
                        frame["stream"], frame["runId"], chunk=frame["chunk"], seq=frame["seq"]
                    )
                elif kind == "complete":
                    return
                elif kind == "error":
                    raise _error(frame["code"], frame["message"])
        finally:
            asyncio.ensure_future(session.close())


def subscribe_to_run(run_id, *, stop_on_completion=True, skip_columns=()) -> Feed:
    return Feed(
        {"run": run_id, "stopOnCompletion": stop_on_completion, "skipColumns": list(skip_columns)}
    )


def subscribe_to_runs_with_tag(tags, *, created_at=None, status=None, skip_columns=()) -> Feed:
    message = {
        "tags": [tags] if isinstance(tags, str) else list(tags),
        "skipColumns": list(skip_columns),
    }
    if created_at is not None:
        message["createdAt"] = created_at
    if status is not None:
        message["status"] = [status] if isinstance(status, str) else list(status)
    return Feed(message)


def subscribe_to_batch(batch_id, *, skip_columns=()) -> Feed:
    return Feed({"batch": batch_id, "skipColumns": list(skip_columns)})
