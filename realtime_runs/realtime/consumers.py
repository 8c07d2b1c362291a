"""The websocket endpoint ``/realtime/v1/ws`` (CONTRACT.md §4): many subscriptions a socket.

Thin on purpose: a Session holds the subscriptions and the rules; this class checks frames
(size, rate, JSON) and hands them on.
"""

import json
from urllib.parse import urlparse

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.http.request import validate_host

from realtime_runs.realtime.session import Session
from realtime_runs.realtime.subscriptions import MAX_MESSAGE_BYTES, FloodGate, ProtocolError


def same_site(scope) -> bool:
    """Does the handshake come from one of our own pages (or from no browser at all)?"""
    origin = dict(scope.get("headers", [])).get(b"origin")
    if origin is None:
        return True
    try:
        host = urlparse(origin.decode("latin-1")).hostname or ""
    except ValueError:  # e.g. "http://[::1": not an origin of ours
        return False
    if ":" in host:  # an IPv6 address, which ALLOWED_HOSTS spells in brackets
        host = f"[{host}]"
    return validate_host(host, settings.ALLOWED_HOSTS)


class RealtimeConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        is_staff = bool(user and user.is_authenticated and user.is_staff)
        self.flood = FloodGate()
        self.session = Session(
            self.send,
            self.channel_layer,
            self.channel_name,
            staff=is_staff and same_site(self.scope),
        )
        await self.accept()

    async def disconnect(self, code):
        if hasattr(self, "session"):
            await self.session.close()

    async def receive(self, text_data=None, bytes_data=None):
        if text_data is None:
            return await self.session.error("invalid", "send JSON text frames")
        if len(text_data) > MAX_MESSAGE_BYTES or len(text_data.encode()) > MAX_MESSAGE_BYTES:
            return await self.session.error(
                "invalid", f"messages are at most {MAX_MESSAGE_BYTES} bytes"
            )
        if not self.flood.allow():
            return await self.session.error("rate_limited", "too many messages; slow down")
        try:
            message = json.loads(text_data)
        except ValueError:
            return await self.session.error("invalid", "not JSON")
        if not isinstance(message, dict):
            return await self.session.error("invalid", "a message is a JSON object")
        kind = message.get("type")
        sub_id = message.get("id") if isinstance(message.get("id"), str) else None
        try:
            if kind == "ping":
                await self.send('{"type":"pong"}')
            elif kind == "subscribe":
                await self.session.subscribe(message)
            elif kind == "unsubscribe":
                await self.session.unsubscribe(sub_id)
            else:
                raise ProtocolError("invalid", "type is subscribe, unsubscribe or ping", sub_id)
        except ProtocolError as exc:
            await self.session.error(exc.code, exc.message, exc.sub_id)

    # Channel-layer events, named after their "type".

    async def run_changed(self, event):
        await self.session.on_run_changed(event)

    async def run_stream(self, event):
        await self.session.on_stream(event)

    async def token_revoked(self, event):
        await self.session.on_token_revoked(event)
