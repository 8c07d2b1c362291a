"""Real Celery worker processes for the tests, against the test database and Redis."""

import os
import sys
from pathlib import Path

from django.conf import settings

from tests.support.processes import ROOT, Service


def worker_env():
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            # The workers must use the test database pytest-django created, not the configured one.
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "RUNS_EXECUTOR": "celery",
            "CELERY_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


class CeleryWorker(Service):
    """``celery worker`` (prefork) against the test database and the session's queue."""

    def __init__(self, name, concurrency=2, log_dir=None):
        super().__init__(Path(log_dir or "/tmp") / f"celery-{name}-{os.getpid()}.log")
        self.name = name
        self.concurrency = concurrency

    def command(self):
        return [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "realtime_runs.celery",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            str(self.concurrency),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--hostname",
            f"{self.name}@%h",
            "--loglevel",
            "INFO",
        ]

    def env(self):
        return worker_env()

    def ready(self):
        return " ready." in self.tail(size=10**6)


class SharedWorker:
    """One worker for the tests that only need runs executed; tests that start and kill
    workers of their own stop it first, so that they know which process runs what."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.worker = None

    def ensure_running(self):
        if self.worker is None:
            self.worker = CeleryWorker("shared", log_dir=self.log_dir).start()
        return self.worker

    def stop(self):
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
