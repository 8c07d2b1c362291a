"""Test settings: the site's settings with short timings, and the tasks the tests use.

Celery worker processes started by the tests load these settings too.
"""

import os

from realtime_runs.settings import *  # noqa: F403
from realtime_runs.settings import REALTIME_RUNS

SECRET_KEY = "test-secret-key-not-for-production"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

REALTIME_RUNS = {
    **REALTIME_RUNS,
    "TASK_MODULES": ["tests.support.tasks"],
    "HEARTBEAT_INTERVAL": 0.3,
    "HEARTBEAT_TIMEOUT": 2.0,
    "SWEEP_INTERVAL": 0.2,
    "REQUEUE_AFTER": 60.0,
    "METADATA_FLUSH_INTERVAL": 0.05,
}

# Each test session uses its own Celery queue, so nothing from an earlier session is consumed.
CELERY_TASK_DEFAULT_QUEUE = os.environ.setdefault("CELERY_QUEUE", f"runs-test-{os.getpid()}")

# Threads of the test process (database_sync_to_async, the publisher) must not keep
# connections open past their work: the test database is dropped at the end of the session.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
