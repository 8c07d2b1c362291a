"""In-process fan-out: one membership per channel-layer group per process, not one per socket.

With a group per socket, a change watched by 1,000 sockets of a server is 1,000 messages
through Redis; here it is one, handed to the 1,000 local sessions in memory (as the bare
reference server R0 does). Each event loop that serves sessions (Daphne's; the SDK's own) has
one Hub: a single layer channel, a receive loop, and the local table group → sessions.

The hub also does, once for all its sessions, what the at-most-once layer makes necessary:
it looks for revoked tokens, and now and then compares the versions of the runs that run
subscriptions follow with the table, so a dropped message never leaves a subscriber behind.
"""

import asyncio
import logging
import time
import weakref
from collections import defaultdict

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from realtime_runs.conf import runs_settings
from realtime_runs.models import AccessToken, Run

log = logging.getLogger(__name__)

# Memberships expire in the layers (channels-redis: a day): refresh them well before that.
REFRESH_MEMBERSHIPS_EVERY = 1800.0


@database_sync_to_async
def _revoked(jtis):
    return set(
        AccessToken.objects.filter(jti__in=jtis, revoked_at__isnull=False).values_list(
            "jti", flat=True
        )
    )


@database_sync_to_async
def _versions(run_ids):
    return dict(Run.objects.filter(pk__in=run_ids).values_list("id", "version"))


class Hub:
    def __init__(self, layer):
        self.layer = layer
        self.channel = None
        self.local: dict[str, set] = defaultdict(set)  # group → sessions
        self.joining: dict[str, asyncio.Future] = {}
        self.sessions: weakref.WeakSet = weakref.WeakSet()
        self._tasks = []

    async def _start(self):
        if self.channel is None:
            self.channel = await self.layer.new_channel()
            self._tasks = [
                asyncio.create_task(self._receive_forever()),
                asyncio.create_task(self._watch_forever()),
            ]

    def add(self, session):
        self.sessions.add(session)

    def remove(self, session):
        self.sessions.discard(session)

    async def join(self, group, session):
        """Deliver the group's events to ``session`` from now on (returns once they flow)."""
        await self._start()
        first = not self.local[group]
        self.local[group].add(session)
        if first:
            self.joining[group] = asyncio.ensure_future(self.layer.group_add(group, self.channel))
        joining = self.joining.get(group)
        if joining is not None:
            # A second session must not read its snapshot before the membership exists.
            await asyncio.shield(joining)
            if self.joining.get(group) is joining:
                del self.joining[group]

    async def leave(self, group, session):
        members = self.local.get(group)
        if members is None:
            return
        members.discard(session)
        if not members:
            del self.local[group]
            await self.layer.group_discard(group, self.channel)

    async def _receive_forever(self):
        while True:
            event = await self.layer.receive(self.channel)
            for session in list(self.local.get(event.get("group"), ())):
                session.post_event(event)

    async def _watch_forever(self):
        last_resync = last_refresh = time.monotonic()
        while True:
            await asyncio.sleep(runs_settings.REVOCATION_CHECK_INTERVAL)
            try:
                await self._check_revocations()
                now = time.monotonic()
                if now - last_resync >= runs_settings.RESYNC_INTERVAL:
                    last_resync = now
                    await self._resync()
                if now - last_refresh >= REFRESH_MEMBERSHIPS_EVERY:
                    last_refresh = now
                    for group in list(self.local):
                        await self.layer.group_add(group, self.channel)
            except Exception:  # keep watching: the next round tries again
                log.exception("realtime hub watch failed")

    async def _check_revocations(self):
        jtis = {jti for session in self.sessions for jti in session.token_ids()}
        if jtis:
            for jti in await _revoked(jtis):
                for session in list(self.sessions):
                    session.post_event({"type": "token.revoked", "jti": jti})

    async def _resync(self):
        runs = {run_id for session in self.sessions for run_id in session.followed_runs()}
        if runs:
            versions = await _versions(runs)
            for session in list(self.sessions):
                session.post_event({"type": "resync", "versions": versions})


_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub]" = weakref.WeakKeyDictionary()


def get_hub(layer=None) -> Hub:
    """The hub of the running event loop (made on first use), over ``layer`` or the default."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub(layer or get_channel_layer())
    return hub
