from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import path

from realtime_runs.realtime.consumers import RealtimeConsumer

websocket_urlpatterns = [
    path("realtime/v1/ws", RealtimeConsumer.as_asgi()),
]


def application(http_app):
    """HTTP through Django, websockets through Channels.

    Any origin may connect: subscriptions carry bearer tokens. A staff session counts only from
    our own origin (see consumers.same_site), and that is what stops cross-site use of it.
    """
    return ProtocolTypeRouter(
        {"http": http_app, "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns))}
    )
