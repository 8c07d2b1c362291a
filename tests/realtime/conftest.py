import json

import pytest
from channels.testing import WebsocketCommunicator
from django.core.asgi import get_asgi_application

from realtime_runs.realtime import routing
from realtime_runs.realtime.publish import publisher

APP = routing.application(get_asgi_application())


class Socket:
    """A websocket client on the real routing stack, speaking JSON."""

    def __init__(self, headers=None):
        self.communicator = WebsocketCommunicator(APP, "/realtime/v1/ws", headers=headers or [])

    async def __aenter__(self):
        connected, _ = await self.communicator.connect()
        assert connected
        return self

    async def __aexit__(self, *exc):
        await self.communicator.disconnect()

    async def send(self, **message):
        await self.communicator.send_to(text_data=json.dumps(message))

    async def send_text(self, text):
        await self.communicator.send_to(text_data=text)

    async def receive(self, timeout=5):
        return json.loads(await self.communicator.receive_from(timeout))

    async def nothing(self, timeout=0.3):
        return await self.communicator.receive_nothing(timeout)

    async def receive_until(self, predicate, timeout=10):
        """Frames up to and including the first one ``predicate`` accepts."""
        frames = []
        while True:
            frame = await self.receive(timeout)
            frames.append(frame)
            if predicate(frame):
                return frames


@pytest.fixture
def socket():
    return Socket


@pytest.fixture(autouse=True)
def _drain_publisher():
    yield
    publisher.wait_idle()
