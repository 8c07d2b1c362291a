"""The websocket endpoint ``/realtime/v1/ws`` (CONTRACT.md §4): many subscriptions a socket.

Thin on purpose: this class checks frames (size, rate, JSON) and hands them to a Session,
which holds the subscriptions and the rules. Sockets do not join the channel layer themselves:
the process's Hub does, once per group, and hands events to the local sessions.
"""

import json
from urllib.parse import urlparse

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.http.request import validate_host

from realtime_runs.realtime.hub import get_hub
from realtime_runs.realtime.session import Session
from realtime_runs.realtime.subscriptions import MAX_MESSAGE_BYTES, FloodGate


def same_site(scope) -> bool:
    """Does the handshake come from one of our own pages (or from no browser at all)?"""
    origin = dict(scope.get("headers", [])).get(b"origin")
    if origin is None:
        return True
    try:
        host = urlparse(origin.decode("latin-1")).hostname or ""
    except ValueError:  # an unparsable origin (http://[::1) is no origin of ours
        return False
    if ":" in host:  # urlparse drops an IPv6 host's brackets; ALLOWED_HOSTS keeps them
        host = f"[{host}]"
    return validate_host(host, settings.ALLOWED_HOSTS)


class RealtimeConsumer(AsyncWebsocketConsumer):
    # No channel per socket: the hub is the process's one member of each group.
    channel_layer_alias = "realtime_runs.sockets_use_the_hub"

    async def connect(self):
        user = self.scope.get("user")
        is_staff = bool(user and user.is_authenticated and user.is_staff)
        self.flood = FloodGate()
        self.session = Session(self.send, get_hub(), staff=is_staff and same_site(self.scope))
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
        self.session.post_client(message)
