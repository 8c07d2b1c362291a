"""A real Daphne server process for the tests, on pytest's test database."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from django.conf import settings

from realtime_runs.conf import runs_settings
from tests.support.celery_workers import ROOT, worker_env

# Served by every server: what start() polls to know the server answers.
READY_PATH = "/static/realtime_runs/realtime.js"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env():
    """The server's environment: the test settings, pointed at pytest's test database."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("postgresql"):
        env = worker_env()  # DATABASE_URL of the test database, the session's Celery queue
    else:
        env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings", PYTHONPATH=str(ROOT))
        env["RUNS_SQLITE_PATH"] = str(db["NAME"])
    env["RUNS_EXECUTOR"] = runs_settings.EXECUTOR
    return env


class Daphne:
    """``daphne realtime_runs.asgi:application`` on a free localhost port."""

    def __init__(self, log_path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process = None

    def start(self, timeout=30):
        self.log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("daphne")),
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "realtime_runs.asgi:application",
            ],
            cwd=ROOT,
            env=server_env(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited: {self.tail()}")
            try:
                if httpx.get(self.url + READY_PATH, timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"daphne did not answer in {timeout}s: {self.tail()}")

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.log.close()

    def restart(self):
        self.stop()
        return self.start()

    def tail(self, size=4000):
        return Path(self.log_path).read_text()[-size:]
