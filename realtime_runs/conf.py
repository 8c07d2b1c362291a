"""The REALTIME_RUNS settings dict, with defaults, read lazily (Django REST framework's pattern).

``runs_settings.HEARTBEAT_TIMEOUT`` reads ``settings.REALTIME_RUNS["HEARTBEAT_TIMEOUT"]`` or the
default below; the cache is dropped whenever a test overrides ``REALTIME_RUNS``.
"""

from django.conf import settings
from django.core.signals import setting_changed

DEFAULTS = {
    # Where runs execute: "inline" (worker threads in this process) or "celery".
    "EXECUTOR": "inline",
    "INLINE_WORKERS": 4,
    # Register the demo tasks of CONTRACT.md §7.
    "DEMO_TASKS": True,
    # Modules imported at start-up to register @task functions, besides each app's tasks.py.
    "TASK_MODULES": [],
    # A worker touches its runs this often; a run whose heartbeat is older than the timeout
    # belongs to a dead worker and is retried or CRASHED.
    "HEARTBEAT_INTERVAL": 2.0,
    "HEARTBEAT_TIMEOUT": 30.0,
    # How often the sweep promotes due DELAYED runs, expires, times out and recovers runs.
    "SWEEP_INTERVAL": 1.0,
    # A ready run not claimed this long after its hand-off is handed off again. Celery keeps
    # its messages (acks_late), so this only catches hand-offs lost before reaching the broker;
    # a short value would flood a busy queue with duplicates (harmless, but not free).
    "REQUEUE_AFTER": 300.0,
    # Metadata written inside a run is coalesced into one write per this many seconds.
    "METADATA_FLUSH_INTERVAL": 0.25,
    # Metadata stays writable this long after a run finishes.
    "METADATA_WRITABLE_AFTER_FINISH": 3600,
    # Retry defaults (Trigger.dev's): exponential backoff with jitter between attempts.
    "DEFAULT_MAX_ATTEMPTS": 3,
    "DEFAULT_RETRY": {"factor": 2.0, "min_timeout": 1.0, "max_timeout": 60.0, "randomize": True},
    # Idempotency keys last this long unless idempotencyKeyTTL says otherwise (Trigger.dev: 30d).
    "DEFAULT_IDEMPOTENCY_KEY_TTL": 30 * 24 * 3600,
    # Cost: Trigger.dev's "micro" machine rate and per-run base cost.
    "COST_PER_SECOND_IN_CENTS": 0.00169,
    "BASE_COST_IN_CENTS": 0.0025,
    # Limits of CONTRACT.md §1 and §3.
    "MAX_TAGS": 10,
    "MAX_TAG_LENGTH": 128,
    "MAX_PAYLOAD_BYTES": 3 * 1024 * 1024,
    "MAX_METADATA_BYTES": 256 * 1024,
    "MAX_IDEMPOTENCY_KEY_LENGTH": 2048,
    "MAX_BATCH_SIZE": 500,
    # Streams: chunks are written in batches of this many, or this often (seconds).
    "STREAM_BATCH_SIZE": 32,
    "STREAM_FLUSH_INTERVAL": 0.05,
    "MAX_STREAMS_PER_RUN": 10,
    "MAX_STREAM_CHUNK_BYTES": 1024 * 1024,
    # Live subscriptions look for revoked tokens this often (seconds), besides the message.
    "REVOCATION_CHECK_INTERVAL": 5.0,
    # ...and compare the versions of the runs they follow with the table this often.
    "RESYNC_INTERVAL": 30.0,
    # Public access tokens: the JWT "sub", and lifetimes in seconds.
    "DEPLOYMENT_ID": "default",
    "PUBLIC_TOKEN_LIFETIME": 15 * 60,
    "MAX_PUBLIC_TOKEN_LIFETIME": 30 * 24 * 3600,
    "WAITPOINT_TOKEN_LIFETIME": 24 * 3600,
    # Where this deployment is reached from outside: wait tokens' callback URLs start with it.
    "PUBLIC_URL": "http://127.0.0.1:8000",
}


class RunsSettings:
    def __init__(self):
        self._cache = {}

    def __getattr__(self, name):
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown REALTIME_RUNS setting: {name!r}")
        if name not in self._cache:
            user = getattr(settings, "REALTIME_RUNS", {})
            self._cache[name] = user.get(name, DEFAULTS[name])
        return self._cache[name]

    def reload(self):
        self._cache.clear()


runs_settings = RunsSettings()


def _reload(*, setting, **kwargs):
    if setting == "REALTIME_RUNS":
        runs_settings.reload()


setting_changed.connect(_reload)
