"""The ASGI entry point (Daphne): HTTP through Django.

With the inline executor, this server process is also the worker: it starts the worker
threads here, not in AppConfig.ready(), so that management commands never run tasks.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "realtime_runs.settings")

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from realtime_runs.engine.executors import get_executor  # noqa: E402

get_executor().start()

application = ProtocolTypeRouter({"http": django_asgi_app})
