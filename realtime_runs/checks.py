"""System checks: the configured executor exists and fits the rest of the settings."""

from django.conf import settings
from django.core.checks import Error, Warning, register

from realtime_runs.conf import runs_settings
from realtime_runs.engine.executors import BACKENDS


@register()
def check_executor(app_configs, **kwargs):
    problems = []
    executor = runs_settings.EXECUTOR
    if executor not in BACKENDS:
        problems.append(
            Error(
                f"REALTIME_RUNS['EXECUTOR'] is {executor!r}.",
                hint=f"Use one of {', '.join(sorted(BACKENDS))}.",
                id="realtime_runs.E001",
            )
        )
    if executor == "celery" and settings.CELERY_BROKER_URL.startswith("memory://"):
        problems.append(
            Error(
                "The celery executor has no broker.",
                hint="Set REDIS_URL (or CELERY_BROKER_URL).",
                id="realtime_runs.E002",
            )
        )
    engine = settings.DATABASES["default"]["ENGINE"]
    if executor == "celery" and engine.endswith("sqlite3"):
        problems.append(
            Warning(
                "Celery workers share the database with the server; SQLite is one machine only.",
                hint="Set DATABASE_URL to a PostgreSQL database to scale out.",
                id="realtime_runs.W001",
            )
        )
    return problems
