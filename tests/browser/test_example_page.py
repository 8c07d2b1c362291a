"""The example page /realtime/example/?run=…&token=… in real Chromium."""

from urllib.parse import urlencode

import pytest

from realtime_runs.conf import runs_settings

pytestmark = pytest.mark.browser


def open_example(page, site, handle):
    query = urlencode({"run": handle["id"], "token": handle["publicAccessToken"]})
    page.goto(f"{site.url}/realtime/example/?{query}")


def wait_finished(page, status="COMPLETED", timeout=30_000):
    page.wait_for_function(
        "(status) => document.getElementById('finished').textContent.startsWith(status)",
        arg=status,
        timeout=timeout,
    )


def tokens_shown(page):
    return page.locator("#tokens .token").all_text_contents()


def text(page, selector):
    return page.locator(selector).text_content()


def test_example_page_without_a_run_explains_itself(page, site):
    page.goto(f"{site.url}/realtime/example/")
    assert "?run=" in text(page, "body")


def test_example_page_follows_demo_progress(page, site):
    handle = site.trigger("demo-progress", {"steps": 4, "delay": 0.2})
    open_example(page, site, handle)
    wait_finished(page)
    assert text(page, "#status") == "COMPLETED"
    assert text(page, "#progress") == "100%"
    assert page.locator("#progress-bar").evaluate("(bar) => bar.value") == 100
    assert text(page, "#error") == ""


def test_example_page_streams_every_word_in_order(page, site):
    words = "Realtime runs stream tokens to the browser as they are made".split()
    handle = site.trigger("demo-stream", {"text": " ".join(words), "delay": 0.05})
    open_example(page, site, handle)
    wait_finished(page)
    assert tokens_shown(page) == words
    assert text(page, "#status") == "COMPLETED"


def test_example_page_shows_a_forbidden_token(page, site):
    handle = site.trigger("demo-progress", {"steps": 1, "delay": 0})
    handle["publicAccessToken"] = site.token("read:runs:run_someone_else")
    open_example(page, site, handle)
    page.wait_for_function("() => document.getElementById('error').textContent !== ''")
    assert text(page, "#error").startswith("forbidden: ")
    assert text(page, "#finished") == "not yet"
    site.wait_final(handle["id"])


def test_example_page_survives_a_dropped_socket(page, site):
    words = [f"w{i}" for i in range(1, 41)]
    handle = site.trigger("demo-stream", {"text": " ".join(words), "delay": 0.06})
    open_example(page, site, handle)
    page.wait_for_function("() => document.querySelectorAll('#tokens .token').length >= 8")
    page.evaluate("window.__sockets.at(-1).close()")
    wait_finished(page)
    assert tokens_shown(page) == words
    assert page.evaluate("window.__sockets.length") == 2


@pytest.mark.skipif(
    runs_settings.EXECUTOR != "celery",
    reason="restarting the server also kills the inline executor's run (Celery runs survive)",
)
def test_example_page_survives_a_server_restart(page, site):
    words = [f"w{i}" for i in range(1, 61)]
    handle = site.trigger("demo-stream", {"text": " ".join(words), "delay": 0.08})
    open_example(page, site, handle)
    page.wait_for_function("() => document.querySelectorAll('#tokens .token').length >= 5")
    site.server.restart()
    wait_finished(page)
    assert tokens_shown(page) == words
    assert page.evaluate("window.__sockets.length") >= 2
