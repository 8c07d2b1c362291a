"""Real Chromium (through Playwright) against a real Daphne server on pytest's test database.

The server is a subprocess: with the inline executor it runs the tasks itself; with the Celery
executor (PostgreSQL + Redis) the session's Celery worker process runs them and the server
hears about it through Redis. Runs are triggered over HTTP, so every change is published where
the server's websockets can hear it.
"""

import os
import time
from pathlib import Path

import httpx
import pytest

from realtime_runs.conf import runs_settings
from tests.support.servers import Daphne

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CLIENT = "/static/realtime_runs/realtime.js"
IN_CI = os.environ.get("CI") == "true"

# Records every WebSocket the page opens (window.__sockets), so a test can drop one.
RECORD_SOCKETS = """
window.__sockets = [];
window.WebSocket = class extends window.WebSocket {
  constructor(...args) { super(...args); window.__sockets.push(this); }
};
"""


def missing():
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed: pip install -e '.[test]'"
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing: bash scripts/browser.sh installs it"
    return None


@pytest.fixture(scope="session", autouse=True)
def browser_available():
    """Skip (fail in CI) before anything is started when Chromium or Playwright is missing."""
    reason = missing()
    if reason:
        (pytest.fail if IN_CI else pytest.skip)(reason)


@pytest.fixture(scope="package")
def daphne(django_db_setup, tmp_path_factory):
    """One server for these tests, stopped after them: its inline executor would otherwise
    run the runs of the rest of the suite, which shares the test database."""
    server = Daphne(tmp_path_factory.mktemp("daphne") / "daphne.log").start()
    yield server
    server.stop()


class Site:
    """The running server, and the HTTP calls the tests make to it with a secret key."""

    def __init__(self, server, secret_key):
        self.server = server
        self.secret_key = secret_key

    @property
    def url(self):
        return self.server.url

    def post(self, path, body):
        headers = {"Authorization": f"Bearer {self.secret_key}"}
        response = httpx.post(self.url + path, json=body, headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def trigger(self, task, payload=None, **options):
        body = {"payload": payload, "options": options}
        return self.post(f"/api/v1/tasks/{task}/trigger", body)

    def run(self, run_id):
        headers = {"Authorization": f"Bearer {self.secret_key}"}
        return httpx.get(f"{self.url}/api/v3/runs/{run_id}", headers=headers, timeout=10).json()

    def wait_final(self, run_id, timeout=30):
        """Wait for the run to finish, so the next test's flush does not cut it short."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(run_id)
            if run["isFinished"]:
                return run
            time.sleep(0.1)
        raise AssertionError(f"{run_id} is not finished after {timeout}s")

    def token(self, *scopes, expiration_time=None):
        """A public access token, minted by the server (see ``browser`` for why over HTTP)."""
        body = {"scopes": list(scopes)}
        if expiration_time is not None:
            body["expirationTime"] = expiration_time
        return self.post("/api/v1/auth/public-tokens", body)["token"]


@pytest.fixture
def site(request, transactional_db, daphne, api_key):
    """The Daphne server, with something that executes its runs."""
    if runs_settings.EXECUTOR == "celery":
        request.getfixturevalue("celery_workers").ensure_running()
    yield Site(daphne, api_key)
    if daphne.process.poll() is not None:
        pytest.fail(f"daphne died: {daphne.tail()}")


@pytest.fixture
def browser(site):
    """Chromium, for one test.

    Playwright's sync API keeps an asyncio loop running in this thread while it is started:
    Django then refuses ORM calls (SynchronousOnlyOperation) and pytest-asyncio cannot run its
    loops. So it lives for one test only, set up after the database fixtures (torn down before
    them), and the tests talk to the database through the server's HTTP API only.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


class Frames:
    """The websocket frames a page sent and received, parsed."""

    def __init__(self, page):
        self.sent, self.received = [], []
        page.on("websocket", self._watch)

    def _watch(self, ws):
        import json

        ws.on("framesent", lambda payload: self.sent.append(json.loads(payload)))
        ws.on("framereceived", lambda payload: self.received.append(json.loads(payload)))

    def wait(self, page, predicate, timeout=15, what="a frame"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(predicate(frame) for frame in self.received):
                return
            page.wait_for_timeout(50)  # lets Playwright deliver its events
        raise AssertionError(f"no {what} in {timeout}s: {self.received}")


@pytest.fixture
def page(site, browser):
    """A fresh page (its own context) that records its sockets and frames and its errors."""
    context = browser.new_context()
    context.add_init_script(RECORD_SOCKETS)
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.frames_log = Frames(page)
    yield page
    context.close()
    if errors:
        pytest.fail(f"JavaScript errors on the page: {errors}")


# Loads realtime.js into window.rt and keeps a log of the callbacks in window.events:
# [name, value, Date.now()] triples; rt.on(name) makes a callback that logs under name.
LOAD_CLIENT = """async (src) => {
  window.rt = await import(src);
  window.events = [];
  window.on = (name) => (value) => {
    const copy = value instanceof Error ? {message: value.message, code: value.code} : value;
    window.events.push([name, copy, Date.now()]);
  };
}"""


@pytest.fixture
def client_page(page, site):
    """A page of the site with realtime.js imported as window.rt (see LOAD_CLIENT)."""
    page.goto(site.url + "/realtime/example/")
    page.evaluate(LOAD_CLIENT, CLIENT)
    return page
