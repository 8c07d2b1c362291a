"""The ASGI entry point (Daphne): HTTP through Django, websockets through Channels.

With the inline executor, this server process is also the worker: it starts the worker
threads here, not in AppConfig.ready(), so that management commands and tests never run tasks
by surprise.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "realtime_runs.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from realtime_runs.engine.executors import get_executor  # noqa: E402
from realtime_runs.realtime import routing  # noqa: E402

get_executor().start()

application = routing.application(django_asgi_app)
