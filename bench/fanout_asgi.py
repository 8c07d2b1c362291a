"""An experiment, not the site's entry point: realtime_runs.asgi with one consumer change.

Channels 4.2+ runs ``close_old_connections`` through ``sync_to_async`` (the one thread that
all thread-sensitive database calls share) before every handler, so each run frame sent to
each socket costs a hop to that thread and back. Channel-layer events do not touch the
database directly (any query they make goes through database_sync_to_async, which closes old
connections itself), so here they skip the hop. The site's code is not changed.

    daphne bench.fanout_asgi:application
"""

from channels.consumer import AsyncConsumer, get_handler_name

from realtime_runs.asgi import application  # noqa: F401  (sets Django up first)
from realtime_runs.realtime.consumers import RealtimeConsumer

LAYER_EVENTS = frozenset({"run.changed", "run.stream", "token.revoked"})


async def dispatch(self, message):
    if message["type"] in LAYER_EVENTS:
        await getattr(self, get_handler_name(message))(message)
    else:
        await AsyncConsumer.dispatch(self, message)


RealtimeConsumer.dispatch = dispatch
