"""An experiment, not the site's configuration: the settings with a psycopg connection pool.

Under ASGI, Django runs each request's sync code in a new thread, and connections are per
thread, so ``conn_max_age`` cannot keep them: every request opens a PostgreSQL connection.
Django 5.1+ can pool them instead (needs the ``psycopg-pool`` package):

    BENCH_DJANGO_SETTINGS=bench.settings_pool .venv/bin/python bench/rest_trigger.py
"""

from realtime_runs.settings import *  # noqa: F403
from realtime_runs.settings import DATABASES

if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # a pool and persistent connections exclude each other
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {"min_size": 2, "max_size": 8}
