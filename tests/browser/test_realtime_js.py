"""static/realtime_runs/realtime.js in real Chromium, against a real Daphne server."""

import pytest

from tests.browser.conftest import CLIENT, LOAD_CLIENT

pytestmark = pytest.mark.browser

# Subscribes with every callback logged in window.events (see conftest.LOAD_CLIENT).
SUBSCRIBE = """([kind, target, options]) => {
  const subscribe = {run: rt.subscribeToRun, tags: rt.subscribeToRunsWithTag,
                     batch: rt.subscribeToBatch}[kind];
  const sub = subscribe(target, {...options, onUpdate: on("update"), onComplete: on("complete"),
                                 onError: on("error"), onStreamChunk: on("chunk")});
  (window.subs ||= []).push(sub);
  return sub.id;
}"""


def subscribe(page, kind, target, **options):
    return page.evaluate(SUBSCRIBE, [kind, target, options])


def events(page, name):
    return [value for kind, value, _ in page.evaluate("window.events") if kind == name]


def wait_events(page, name, count=1, timeout=20_000):
    page.wait_for_function(
        "([name, count]) => window.events.filter(([kind]) => kind === name).length >= count",
        arg=[name, count],
        timeout=timeout,
    )


def assert_versions_increase(runs):
    versions = [run["version"] for run in runs]
    assert versions == sorted(set(versions)), f"versions repeat or go back: {versions}"


def test_subscribe_to_run_follows_demo_progress_to_completed(client_page, site):
    trigger = site.token("trigger:tasks:demo-progress")
    handle = client_page.evaluate(
        "(token) => rt.triggerTask('demo-progress', {steps: 5, delay: 0.2}, {accessToken: token})",
        trigger,
    )
    assert handle["id"].startswith("run_") and handle["publicAccessToken"]
    subscribe(client_page, "run", handle["id"], accessToken=handle["publicAccessToken"])
    wait_events(client_page, "complete")
    client_page.wait_for_timeout(500)  # time for a second onComplete, which must not come

    updates = events(client_page, "update")
    [complete] = events(client_page, "complete")
    assert_versions_increase(updates)
    assert updates[-1]["status"] == "COMPLETED"
    assert updates[-1]["metadata"]["progress"] == 100
    assert updates[-1]["output"] == {"steps": 5}
    progress = [run["metadata"].get("progress") for run in updates if "progress" in run["metadata"]]
    assert progress == sorted(progress)
    assert complete["status"] == "COMPLETED" and complete["version"] == updates[-1]["version"]
    assert events(client_page, "error") == []

    fetched = client_page.evaluate(
        "([id, token]) => rt.fetchRun(id, {accessToken: token})",
        [handle["id"], handle["publicAccessToken"]],
    )
    assert fetched["status"] == "COMPLETED" and fetched["version"] == complete["version"]


def test_streams_arrive_word_by_word_in_order(client_page, site):
    words = "one two three four five six seven eight nine ten".split()
    handle = site.trigger("demo-stream", {"text": " ".join(words), "delay": 0.05})
    subscribe(
        client_page,
        "run",
        handle["id"],
        accessToken=handle["publicAccessToken"],
        withStreams=True,
        skipColumns=["payload"],
    )
    wait_events(client_page, "complete")
    client_page.wait_for_timeout(300)

    chunks = events(client_page, "chunk")
    assert [c["chunk"] for c in chunks] == words
    assert [c["seq"] for c in chunks] == list(range(1, len(words) + 1))
    assert {(c["runId"], c["stream"]) for c in chunks} == {(handle["id"], "tokens")}
    updates = events(client_page, "update")
    assert all("payload" not in run for run in updates)
    assert updates[-1]["output"] == {"text": " ".join(words)}
    assert len(events(client_page, "complete")) == 1


def test_tag_feed_sees_a_run_triggered_after_subscribing(client_page, site):
    tag = "user-browser-1"
    frames = client_page.frames_log
    subscribe(client_page, "tags", [tag], accessToken=site.token(f"read:tags:{tag}"))
    subscribe(
        client_page,
        "tags",
        tag,
        accessToken=site.token(f"read:tags:{tag}"),
        createdAt="1h",
        status=["COMPLETED"],
    )
    frames.wait(client_page, lambda f: f == {"type": "subscribed", "id": "s2"}, what="subscribed")
    assert events(client_page, "update") == []

    other = site.trigger("demo-progress", {"steps": 1, "delay": 0}, tags=["someone-else"])
    tagged = site.trigger("demo-progress", {"steps": 2, "delay": 0.1}, tags=[tag, "extra"])
    client_page.wait_for_function(
        "(id) => events.filter(([k, run]) => k === 'update' && run.id === id"
        " && run.status === 'COMPLETED').length === 2",
        arg=tagged["id"],
    )
    site.wait_final(other["id"])
    client_page.wait_for_timeout(300)

    by_sub = {"s1": [], "s2": []}
    sent = [f for f in frames.received if f["type"] == "run"]
    for frame in sent:
        by_sub[frame["id"]].append(frame["run"])
    assert {run["id"] for run in by_sub["s1"]} == {tagged["id"]}
    assert [run["status"] for run in by_sub["s2"]] == ["COMPLETED"]
    assert_versions_increase(by_sub["s1"])
    assert events(client_page, "complete") == []  # feeds stay open
    assert events(client_page, "error") == []


def test_batch_feed_follows_every_run_of_the_batch(client_page, site):
    item = {"task": "demo-progress", "payload": {"steps": 2, "delay": 0.05}}
    batch = site.post("/api/v1/tasks/batch", {"items": [item, item]})
    subscribe(client_page, "batch", batch["id"], accessToken=batch["publicAccessToken"])
    client_page.wait_for_function(
        "(n) => new Set(events.filter(([k, run]) => k === 'update' && run.status === 'COMPLETED')"
        ".map(([, run]) => run.id)).size === n",
        arg=len(batch["runs"]),
    )
    assert {run["batchId"] for run in events(client_page, "update")} == {batch["id"]}


def test_a_forbidden_token_reports_an_error(client_page, site):
    handle = site.trigger("demo-progress", {"steps": 1, "delay": 0})
    subscribe(client_page, "run", handle["id"], accessToken=site.token("read:runs:run_other"))
    subscribe(client_page, "run", handle["id"], accessToken="not-a-jwt")
    wait_events(client_page, "error", 2)

    errors = events(client_page, "error")
    assert [e["code"] for e in errors] == ["forbidden", "unauthorized"]
    assert "read:runs:run_other" in errors[0]["message"]
    assert events(client_page, "update") == [] and events(client_page, "complete") == []
    refused = client_page.evaluate(
        "([id, token]) => rt.fetchRun(id, {accessToken: token}).then("
        "  () => null, (e) => ({status: e.status, code: e.code, message: e.message}))",
        [handle["id"], site.token("read:runs:run_other")],
    )
    assert refused["status"] == 403 and refused["message"]
    site.wait_final(handle["id"])


def test_an_expired_token_reports_token_expired_and_renew_goes_on(client_page, site):
    handle = site.trigger("demo-progress", {"steps": 10, "delay": 0.4})
    short = site.token(f"read:runs:{handle['id']}", expiration_time=2)
    subscribe(client_page, "run", handle["id"], accessToken=short)
    wait_events(client_page, "error", timeout=10_000)
    assert [e["code"] for e in events(client_page, "error")] == ["token_expired"]
    seen = len(events(client_page, "update"))

    client_page.evaluate("(token) => subs[0].renew(token)", site.token(f"read:runs:{handle['id']}"))
    wait_events(client_page, "complete")
    client_page.wait_for_timeout(300)
    updates = events(client_page, "update")
    assert len(updates) > seen
    assert_versions_increase(updates)
    assert updates[-1]["status"] == "COMPLETED" and updates[-1]["metadata"]["progress"] == 100
    assert len(events(client_page, "complete")) == 1


def test_throttle_coalesces_updates_and_delivers_the_latest(client_page, site):
    handle = site.trigger("demo-progress", {"steps": 20, "delay": 0.06})
    subscribe(
        client_page, "run", handle["id"], accessToken=handle["publicAccessToken"], throttleInMs=400
    )
    wait_events(client_page, "complete")
    logged = [(value, at) for kind, value, at in client_page.evaluate("events") if kind == "update"]
    updates = [run for run, _ in logged]
    gaps = [b - a for (_, a), (_, b) in zip(logged, logged[1:], strict=False)]
    # The last one may come sooner: a subscription that ends hands over what it holds at once.
    assert all(gap >= 390 for gap in gaps[:-1]), gaps
    assert len(updates) < 10  # the run makes more than 20 versions
    assert updates[-1]["status"] == "COMPLETED" and updates[-1]["metadata"]["progress"] == 100
    assert_versions_increase(updates)


def test_a_dropped_socket_resumes_with_since_and_loses_nothing(client_page, site):
    words = [f"word{i}" for i in range(1, 41)]
    handle = site.trigger("demo-stream", {"text": " ".join(words), "delay": 0.06})
    subscribe(
        client_page, "run", handle["id"], accessToken=handle["publicAccessToken"], withStreams=True
    )
    for count in (5, 20):
        wait_events(client_page, "chunk", count)
        client_page.evaluate("window.__sockets.at(-1).close()")
    wait_events(client_page, "complete")
    client_page.wait_for_timeout(300)

    chunks = events(client_page, "chunk")
    assert [c["chunk"] for c in chunks] == words
    assert [c["seq"] for c in chunks] == list(range(1, len(words) + 1))
    assert_versions_increase(events(client_page, "update"))
    assert len(events(client_page, "complete")) == 1
    assert client_page.evaluate("window.__sockets.length") == 3
    subscribes = [f for f in client_page.frames_log.sent if f["type"] == "subscribe"]
    assert len(subscribes) == 3 and all(f["id"] == "s1" for f in subscribes)
    assert "since" not in subscribes[0]
    for frame in subscribes[1:]:
        assert frame["since"]["version"] >= 1 and frame["since"]["streams"]["tokens"] >= 5
        assert frame["token"] == handle["publicAccessToken"]
    # The token is never in the socket's URL.
    urls = client_page.evaluate("window.__sockets.map((ws) => ws.url)")
    assert all(url.endswith("/realtime/v1/ws") for url in urls)


def test_the_client_pings_every_25_seconds(page, site):
    page.clock.install()  # time flows as usual, and can be fast-forwarded
    page.goto(site.url + "/realtime/example/")
    page.evaluate(LOAD_CLIENT, CLIENT)
    handle = site.trigger("demo-progress", {"steps": 1, "delay": 2})
    subscribe(page, "run", handle["id"], accessToken=handle["publicAccessToken"])
    frames = page.frames_log
    frames.wait(page, lambda f: f["type"] == "run", what="the run")
    page.clock.fast_forward(25_500)
    frames.wait(page, lambda f: f == {"type": "pong"}, what="a pong")
    assert {"type": "ping"} in frames.sent
    assert page.evaluate("window.__sockets.length") == 1
    site.wait_final(handle["id"])


def test_complete_wait_token_lets_a_waiting_run_finish(client_page, site):
    handle = site.trigger("demo-approval", {"timeout": "10m"})
    subscribe(client_page, "run", handle["id"], accessToken=handle["publicAccessToken"])
    client_page.wait_for_function(
        "() => events.some(([k, run]) => k === 'update' && run.metadata.waitTokenId)"
    )
    [token_id] = {run["metadata"].get("waitTokenId") for run in events(client_page, "update")} - {
        None
    }
    answer = client_page.evaluate(
        "([id, token]) => rt.completeWaitToken(id, {approved: true}, {accessToken: token})",
        [token_id, site.token(f"write:waitpoints:{token_id}")],
    )
    assert answer["success"] is True
    wait_events(client_page, "complete")
    [complete] = events(client_page, "complete")
    assert complete["status"] == "COMPLETED" and complete["output"] == {"approved": True}
    statuses = [run["status"] for run in events(client_page, "update")]
    assert "WAITING" in statuses
