"""R0, the bare reference of DESIGN.md "Benchmarks": Redis pub/sub relayed to websockets.

    r0_server.py PORT CHANNEL [REDIS_URL]

No protocol, no auth, no per-socket state: every connected socket gets every message of the
Redis channel, sent with ``websockets.broadcast`` (encoded once, written to each transport).
Each socket gets ``{"type":"subscribed"}`` once it is in the broadcast set. Prints "ready".
"""

import asyncio
import signal
import sys

import redis.asyncio as aioredis
from websockets.asyncio.server import broadcast, serve

CLIENTS = set()


async def handler(websocket):
    CLIENTS.add(websocket)
    try:
        await websocket.send('{"type":"subscribed","id":"s1"}')
        await websocket.wait_closed()
    finally:
        CLIENTS.discard(websocket)


async def relay(redis_url, channel, subscribed):
    client = aioredis.from_url(redis_url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(channel)
    subscribed.set()
    async for message in pubsub.listen():
        if message["type"] == "message":
            broadcast(CLIENTS, message["data"], text=True)  # bytes, sent as text frames


async def main(port, channel, redis_url):
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.cancel)
    subscribed = asyncio.Event()
    relay_task = asyncio.create_task(relay(redis_url, channel, subscribed))
    # No compression: Daphne does not negotiate permessage-deflate either.
    async with serve(handler, "127.0.0.1", port, compression=None, backlog=1024):
        await subscribed.wait()
        print("ready", flush=True)
        try:
            await stop
        except asyncio.CancelledError:
            pass
    relay_task.cancel()


if __name__ == "__main__":
    port, channel = int(sys.argv[1]), sys.argv[2]
    url = sys.argv[3] if len(sys.argv) > 3 else "redis://127.0.0.1:6379/0"
    asyncio.run(main(port, channel, url))
