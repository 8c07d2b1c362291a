"""A realtime session: the subscriptions of one client and the relaying of what they may see.

Transport-free: the websocket consumer and the in-process Python SDK both drive a Session,
giving it a function that sends a frame's text and a channel-layer channel to join groups
with. The protocol's rules for a single subscription are in ``subscriptions``.
"""

import asyncio
import json
import logging
import time
from collections import defaultdict
from datetime import UTC, datetime

from channels.db import database_sync_to_async
from django.utils import timezone

from realtime_runs import tokens
from realtime_runs.errors import RunsError
from realtime_runs.models import Batch, Run
from realtime_runs.realtime import groups as g
from realtime_runs.realtime.publish import dumps
from realtime_runs.realtime.subscriptions import (
    MAX_PENDING_EVENTS,
    MAX_SUBSCRIPTIONS,
    SNAPSHOT_LIMIT,
    ProtocolError,
    Subscription,
    parse_subscribe,
    run_frame,
    stream_frame,
)

log = logging.getLogger(__name__)

# A run the feed has said nothing of for this long may resync from the table.
RESYNC_QUIET = 2.0

# -- database reads (each one small query, off the event loop) ------------------------------


@database_sync_to_async
def verify_token(token):
    return tokens.verify(token)


@database_sync_to_async
def run_facts(run_id):
    return Run.objects.filter(pk=run_id).values("id", "tags", "batch_id", "task_identifier").first()


@database_sync_to_async
def batch_exists(batch_id):
    return Batch.objects.filter(pk=batch_id).exists()


@database_sync_to_async
def snapshot(sub: Subscription):
    """The runs a new subscription starts with: (run dict, JSON text) pairs, oldest first."""
    if sub.kind == "run":
        runs = Run.objects.filter(pk=sub.target)
    elif sub.kind == "batch":
        runs = Run.objects.filter(batch_id=sub.target).order_by("created_at", "id")
    else:
        runs = Run.objects.all()
        for tag in sub.target:
            runs = runs.with_tag(tag)
        runs = runs.filter(created_at__gte=datetime.fromtimestamp(sub.created_after, tz=UTC))
        if sub.statuses:
            runs = runs.filter(status__in=sub.statuses)
        runs = reversed(runs.order_by("-created_at", "-id")[:SNAPSHOT_LIMIT])
    out = []
    for run in runs:
        data = run.to_dict()
        out.append((data, dumps(data)))
    return out


@database_sync_to_async
def runs_by_id(run_ids):
    out = []
    for run in Run.objects.filter(pk__in=run_ids):
        data = run.to_dict()
        out.append((data, dumps(data)))
    return out


@database_sync_to_async
def stored_chunks(run_id, since):
    from realtime_runs.engine.streams import chunks_since

    return [(c.key, c.seq, dumps(c.data)) for c in chunks_since(run_id, since)]


class Session:
    """One client's subscriptions. Client messages and layer events go through one queue, so
    they are handled one at a time, in order: a subscribe joins its groups, then reads its
    snapshot, and the events that arrived meanwhile are handled after it."""

    def __init__(self, send_text, hub, staff=False):
        self.send_text = send_text
        self.hub = hub
        self.staff = staff
        self.subs: dict[str, Subscription] = {}
        self.members: dict[str, set[str]] = defaultdict(set)  # group → subscription ids
        self.timers: dict[str, asyncio.Task] = {}
        self.queue: asyncio.Queue = asyncio.Queue()
        self.pending_events = 0
        self.behind = False
        self.last_heard: dict[str, float] = {}  # run id → when its last event arrived
        hub.add(self)
        self.pump = asyncio.create_task(self._pump())

    async def close(self):
        self.pump.cancel()
        for timer in self.timers.values():
            timer.cancel()
        for group in list(self.members):
            await self.hub.leave(group, self)
        self.hub.remove(self)
        self.members.clear()
        self.subs.clear()

    # -- the queue -------------------------------------------------------------------------

    def post_client(self, message):
        """A client message (already checked for size, rate and JSON) to handle in turn."""
        self.queue.put_nowait(("client", message))

    def post_event(self, event):
        """A layer event from the hub. A session too slow to keep up drops events and, once it
        gets to it, reads what it missed from the tables instead (nothing is lost)."""
        if self.pending_events >= MAX_PENDING_EVENTS:
            self.behind = True
            return
        if event.get("type") == "run.changed":
            self.last_heard[event["run_id"]] = time.monotonic()
        self.pending_events += 1
        self.queue.put_nowait(("event", event))

    async def _pump(self):
        handlers = {
            "run.changed": self.on_run_changed,
            "run.stream": self.on_stream,
            "token.revoked": self.on_token_revoked,
            "resync": self.on_resync,
        }
        while True:
            kind, item = await self.queue.get()
            try:
                if kind == "event":
                    self.pending_events -= 1
                    if self.behind:
                        self.behind = False
                        await self.catch_up()
                    handler = handlers.get(item.get("type"))
                    if handler is not None:
                        await handler(item)
                else:
                    await self.handle_client(item)
            except ProtocolError as exc:
                await self.error(exc.code, exc.message, exc.sub_id)
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad message must not end the session
                log.exception("realtime session failed on a %s message", kind)

    async def handle_client(self, message):
        kind = message.get("type")
        sub_id = message.get("id") if isinstance(message.get("id"), str) else None
        if kind == "ping":
            await self.send_text('{"type":"pong"}')
        elif kind == "subscribe":
            await self.subscribe(message)
        elif kind == "unsubscribe":
            await self.unsubscribe(sub_id)
        else:
            raise ProtocolError("invalid", "type is subscribe, unsubscribe or ping", sub_id)

    def token_ids(self):
        return {sub.token.jti for sub in self.subs.values() if sub.token is not None}

    def followed_runs(self):
        return {sub.target for sub in self.subs.values() if sub.kind == "run"}

    # -- subscribing -----------------------------------------------------------------------

    async def subscribe(self, message):
        """Validate, authorize, join, then send the snapshot; raises ProtocolError."""
        sub = parse_subscribe(message)
        if sub.id in self.subs:
            raise ProtocolError("invalid", f"subscription id {sub.id!r} is in use", sub.id)
        if len(self.subs) >= MAX_SUBSCRIPTIONS:
            raise ProtocolError("invalid", f"at most {MAX_SUBSCRIPTIONS} subscriptions", sub.id)
        token = message.get("token")
        if token is not None:
            try:
                sub.token = await verify_token(token)
            except RunsError as exc:
                code = "token_expired" if exc.code == "token_expired" else "unauthorized"
                raise ProtocolError(code, exc.message, sub.id) from None
        elif not self.staff:
            raise ProtocolError(
                "unauthorized", "a public access token is required in subscribe", sub.id
            )
        await self.authorize(sub)
        # Join the live feed first, then read the current state: a change committed in between
        # arrives live as well, and the version check drops whichever copy comes second.
        for group in self.groups_for(sub):
            self.members[group].add(sub.id)
            await self.hub.join(group, self)
        self.subs[sub.id] = sub
        await self.send_text(dumps({"type": "subscribed", "id": sub.id}))
        if sub.token is not None:
            self.timers[sub.id] = asyncio.create_task(self._expire(sub))
        for data, text in await snapshot(sub):
            await self.deliver(sub, data["id"], data["version"], data["status"], text, data)
            if sub.id not in self.subs:
                return
        if sub.kind == "run" and sub.streams:
            for key, seq, chunk in await stored_chunks(sub.target, sub.since_streams):
                await self.send_chunk(sub, sub.target, key, seq, chunk)

    async def authorize(self, sub):
        held = sub.token.scopes if sub.token is not None else None
        if sub.kind == "run":
            facts = await run_facts(sub.target)
            if facts is None:
                raise ProtocolError("not_found", f"no run {sub.target!r}", sub.id)
            allowed = held is None or tokens.can_read_run(
                held, facts["id"], facts["tags"], facts["batch_id"], facts["task_identifier"]
            )
        elif sub.kind == "batch":
            if not await batch_exists(sub.target):
                raise ProtocolError("not_found", f"no batch {sub.target!r}", sub.id)
            allowed = held is None or tokens.can_read_batch(held, sub.target)
        else:
            allowed = held is None or tokens.can_read_tags(held, sub.target)
        if not allowed:
            what = f"read {sub.kind} {sub.target}"
            raise ProtocolError("forbidden", tokens.forbidden(held, what).message, sub.id)

    def groups_for(self, sub):
        if sub.kind == "run":
            groups = [g.run_group(sub.target)]
        elif sub.kind == "batch":
            groups = [g.batch_group(sub.target)]
        else:
            groups = [g.tag_group(sub.target[0])]  # AND of tags: one group, then filter
        if sub.token is not None:
            groups.append(g.token_group(sub.token.jti))
        return groups

    async def unsubscribe(self, sub_id):
        if not isinstance(sub_id, str):
            raise ProtocolError("invalid", "unsubscribe needs the id of a subscription")
        if sub_id not in self.subs:
            raise ProtocolError("not_found", f"no subscription {sub_id!r}", sub_id)
        await self.end(sub_id)

    # -- sending ---------------------------------------------------------------------------

    async def error(self, code, message, sub_id=None):
        frame = {"type": "error", "code": code, "message": message}
        if sub_id is not None:
            frame["id"] = sub_id
        await self.send_text(dumps(frame))

    async def deliver(self, sub, run_id, version, status, text, data=None):
        if sub.is_new(run_id, version):
            if sub.skip_columns and data is None:
                data = json.loads(text)
            await self.send_text(run_frame(sub.id, text, data, sub.skip_columns))
        if sub.ends_with(status):
            await self.complete(sub)

    async def complete(self, sub):
        if sub.streams:
            # Chunks are stored before the final status: send any the feed has not brought.
            for key, seq, chunk in await stored_chunks(sub.target, self._seen(sub)):
                await self.send_chunk(sub, sub.target, key, seq, chunk)
        await self.send_text(dumps({"type": "complete", "id": sub.id}))
        await self.end(sub.id)

    def _seen(self, sub):
        seen = dict(sub.since_streams)
        seen.update({key: seq for (_, key), seq in sub.seqs.items()})
        return seen

    async def send_chunk(self, sub, run_id, key, seq, chunk_json):
        fresh, _ = sub.next_chunks(run_id, key, [(seq, chunk_json)])
        if fresh:
            await self.send_text(stream_frame(sub.id, run_id, key, seq, chunk_json))
            sub.sent_chunk(run_id, key, seq)

    async def end(self, sub_id, code=None, message=None):
        """End a subscription; with ``code``, tell the client why with an error frame."""
        sub = self.subs.pop(sub_id, None)
        if sub is None:
            return
        timer = self.timers.pop(sub_id, None)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()
        for group in self.groups_for(sub):
            members = self.members.get(group)
            if members is not None:
                members.discard(sub_id)
                if not members:
                    del self.members[group]
                    await self.hub.leave(group, self)
        if code:
            await self.error(code, message, sub_id)

    # -- layer events ----------------------------------------------------------------------

    async def on_run_changed(self, event):
        for sub in list(self.subs.values()):
            if sub.covers(event):
                await self.deliver(
                    sub, event["run_id"], event["version"], event["status"], event["json"]
                )

    async def on_stream(self, event):
        run_id, key = event["run_id"], event["stream"]
        for sub in list(self.subs.values()):
            if sub.kind != "run" or sub.target != run_id or not sub.streams:
                continue
            fresh, gap = sub.next_chunks(run_id, key, [tuple(c) for c in event["chunks"]])
            if gap:  # the layer dropped something: the table has it
                stored = await stored_chunks(run_id, self._seen(sub))
                fresh = [(seq, chunk) for k, seq, chunk in stored if k == key]
            for seq, chunk in fresh:
                await self.send_chunk(sub, run_id, key, seq, chunk)

    async def on_token_revoked(self, event):
        for sub in list(self.subs.values()):
            if sub.token is not None and sub.token.jti == event["jti"]:
                await self.end(sub.id, code="unauthorized", message="The token was revoked.")

    # -- timers ----------------------------------------------------------------------------

    async def _expire(self, sub):
        delay = (sub.token.expires_at - timezone.now()).total_seconds()
        await asyncio.sleep(max(0.0, delay))
        if self.subs.get(sub.id) is sub:
            await self.end(
                sub.id,
                code="token_expired",
                message="The token expired: subscribe again with a fresh one and since.",
            )

    async def on_resync(self, event):
        """The hub read the versions of the runs run subscriptions follow: catch up on any
        change whose message the layer dropped (the final one would otherwise never come)."""
        versions = event["versions"]
        quiet_since = time.monotonic() - RESYNC_QUIET
        behind = {
            sub.target
            for sub in self.subs.values()
            if sub.kind == "run"
            and versions.get(sub.target, 0) > sub.versions.get(sub.target, sub.since_version)
            # Only a run the feed has gone quiet about: while its changes still arrive, the
            # newer ones are on their way, and jumping ahead would skip them.
            and self.last_heard.get(sub.target, 0) < quiet_since
        }
        if behind:
            await self._redeliver(await runs_by_id(behind))

    async def catch_up(self):
        """After dropping events: read every subscription's runs (and chunks) again."""
        for sub in list(self.subs.values()):
            if sub.id in self.subs:
                for data, text in await snapshot(sub):
                    await self.deliver(sub, data["id"], data["version"], data["status"], text, data)
            if sub.id in self.subs and sub.kind == "run" and sub.streams:
                for key, seq, chunk in await stored_chunks(sub.target, self._seen(sub)):
                    await self.send_chunk(sub, sub.target, key, seq, chunk)

    async def _redeliver(self, runs):
        for data, text in runs:
            for sub in list(self.subs.values()):
                if sub.kind == "run" and sub.target == data["id"]:
                    await self.deliver(sub, data["id"], data["version"], data["status"], text, data)
