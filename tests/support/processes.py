"""Processes the tests start themselves: each in its own process group, so that a test can
stop it, or SIGKILL it with its children as a machine that dies would."""

import os
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class Service:
    name = "service"

    def __init__(self, log_path):
        self.log_path = Path(log_path)
        self.process = None
        self.log = None

    def command(self) -> list:
        raise NotImplementedError

    def env(self) -> dict:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def start(self, timeout=30):
        self.log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            self.command(),
            cwd=ROOT,
            env=self.env(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.tail()}")
            if self.ready():
                return self
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"{self.name} not ready in {timeout}s: {self.tail()}")

    def kill(self):
        """SIGKILL the process and its children."""
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
        if self.log is not None:
            self.log.close()

    def restart(self):
        self.stop()
        return self.start()

    def tail(self, size=4000):
        return self.log_path.read_text()[-size:] if self.log_path.exists() else ""
