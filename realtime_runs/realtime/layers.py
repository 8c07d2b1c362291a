"""The embedded default's channel layer: Channels' in-memory layer, made safe across threads.

Channels' InMemoryChannelLayer keeps asyncio queues, which belong to one event loop. Runs here
are changed by worker threads and watched from Daphne's loop, so this layer runs every operation
on one loop of its own. One process only, like the original; use channels-redis to scale out.
"""

import asyncio
import os
import threading

from channels import layers


class InMemoryChannelLayer(layers.InMemoryChannelLayer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._home = None
        self._home_pid = None
        self._lock = threading.Lock()

    def _home_loop(self):
        with self._lock:
            if self._home is None or self._home_pid != os.getpid():
                self._home = asyncio.new_event_loop()
                self._home_pid = os.getpid()
                threading.Thread(
                    target=self._home.run_forever, name="in-memory-channel-layer", daemon=True
                ).start()
            return self._home

    async def _at_home(self, coroutine):
        home = self._home_loop()
        if asyncio.get_running_loop() is home:
            return await coroutine
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, home))

    async def send(self, channel, message):
        return await self._at_home(super().send(channel, message))

    async def receive(self, channel):
        return await self._at_home(super().receive(channel))

    async def group_add(self, group, channel):
        return await self._at_home(super().group_add(group, channel))

    async def group_discard(self, group, channel):
        return await self._at_home(super().group_discard(group, channel))

    async def group_send(self, group, message):
        return await self._at_home(super().group_send(group, message))

    async def flush(self):
        return await self._at_home(super().flush())
