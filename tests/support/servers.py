"""A real Daphne server process for the tests, on pytest's test database."""

import os
import socket
import sys
from pathlib import Path

import httpx
from django.conf import settings

from realtime_runs.conf import runs_settings
from tests.support.celery_workers import worker_env
from tests.support.processes import ROOT, Service

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


class Daphne(Service):
    """``daphne realtime_runs.asgi:application`` on a free localhost port."""

    name = "daphne"

    def __init__(self, log_path):
        super().__init__(log_path)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def command(self):
        daphne = str(Path(sys.executable).with_name("daphne"))
        return [daphne, "-b", "127.0.0.1", "-p", str(self.port), "realtime_runs.asgi:application"]

    def env(self):
        return server_env()

    def ready(self):
        try:
            return httpx.get(self.url + READY_PATH, timeout=1).status_code == 200
        except httpx.TransportError:
            return False
