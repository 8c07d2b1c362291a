"""Real Celery worker processes for the tests, against the test database and Redis."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


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


class CeleryWorker:
    """``celery worker`` in its own process group, so a test can SIGKILL it and its children."""

    def __init__(self, name, concurrency=2, log_dir=None):
        self.name = name
        self.concurrency = concurrency
        self.log_path = Path(log_dir or "/tmp") / f"celery-{name}-{os.getpid()}.log"
        self.process = None

    def start(self, timeout=30):
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [
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
            ],
            cwd=ROOT,
            env=worker_env(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited: {self.log_path.read_text()[-3000:]}")
            if " ready." in self.log_path.read_text():
                return self
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"celery worker not ready in {timeout}s: {self.log_path.read_text()}")

    def kill(self):
        """SIGKILL the worker and its pool processes: the machine died."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


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
