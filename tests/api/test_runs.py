"""Reading runs: GET /api/v3/runs/{id} and GET /api/v1/runs."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from realtime_runs.conf import runs_settings
from realtime_runs.models import Run, RunStatus
from tests.api.support import BATCH, RUN, RUNS, assert_error, triggered
from tests.conftest import wait_for_status

# The run object of CONTRACT.md §1, every key.
RUN_OBJECT_KEYS = {
    "id",
    "taskIdentifier",
    "status",
    "payload",
    "output",
    "metadata",
    "tags",
    "error",
    "createdAt",
    "updatedAt",
    "queuedAt",
    "startedAt",
    "finishedAt",
    "delayedUntil",
    "expiredAt",
    "ttl",
    "durationMs",
    "costInCents",
    "baseCostInCents",
    "idempotencyKey",
    "isTest",
    "batchId",
    "number",
    "attemptNumber",
    "streams",
    "version",
    "isQueued",
    "isExecuting",
    "isWaiting",
    "isCompleted",
    "isSuccess",
    "isFailed",
    "isCancelled",
    "isFinished",
}
TIMESTAMPS = [
    "createdAt",
    "updatedAt",
    "queuedAt",
    "startedAt",
    "finishedAt",
    "delayedUntil",
    "expiredAt",
]
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def parse_z(value):
    assert ISO_Z.match(value), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# -- one run --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_run_object_has_every_contract_key_in_camel_case(api):
    run = triggered(api, "test-echo", {"p": 1}, tags=["t1"], idempotencyKey="idem", ttl="1h")
    response = api.get(RUN.format(run.id))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == RUN_OBJECT_KEYS
    assert all(re.fullmatch(r"[a-z]+([A-Z][a-z]*)*", key) for key in body)
    assert body["id"] == run.id
    assert body["taskIdentifier"] == "test-echo"
    assert body["status"] == "QUEUED"
    assert body["payload"] == {"p": 1}
    assert body["output"] is None
    assert body["metadata"] == {}
    assert body["tags"] == ["t1"]
    assert body["error"] is None
    assert body["idempotencyKey"] == "idem"
    assert body["ttl"] == "1h"
    assert body["isTest"] is False
    assert body["batchId"] is None
    assert body["number"] == 1
    assert body["attemptNumber"] == 0
    assert body["streams"] == []
    assert isinstance(body["version"], int) and body["version"] >= 1
    for key in ("createdAt", "updatedAt", "queuedAt"):
        assert abs(parse_z(body[key]) - run.created_at) < timedelta(seconds=1)
    for key in ("startedAt", "finishedAt", "delayedUntil", "expiredAt"):
        assert body[key] is None
    assert body["isQueued"] is True
    assert not any(
        body[k]
        for k in (
            "isExecuting",
            "isWaiting",
            "isCompleted",
            "isSuccess",
            "isFailed",
            "isCancelled",
            "isFinished",
        )
    )


@pytest.mark.django_db
def test_run_numbers_count_per_task_from_one(api):
    a1, a2 = triggered(api, "test-echo"), triggered(api, "test-echo")
    b1 = triggered(api, "test-context")
    numbers = [api.get(RUN.format(r.id)).json()["number"] for r in (a1, a2, b1)]
    assert numbers == [1, 2, 1]


def test_completed_run_object(api, worker):
    run = triggered(api, "test-echo", {"echo": [1, 2, 3]})
    wait_for_status(run.id, RunStatus.COMPLETED, RunStatus.FAILED)
    body = api.get(RUN.format(run.id)).json()
    assert set(body) == RUN_OBJECT_KEYS
    assert body["status"] == "COMPLETED"
    assert body["output"] == {"echo": [1, 2, 3]}
    assert body["attemptNumber"] == 1
    times = {key: parse_z(body[key]) for key in TIMESTAMPS if body[key] is not None}
    assert set(times) == {"createdAt", "updatedAt", "queuedAt", "startedAt", "finishedAt"}
    assert times["createdAt"] <= times["startedAt"] <= times["finishedAt"] <= times["updatedAt"]
    assert all(t.tzinfo == UTC for t in times.values())
    assert body["version"] > 1
    assert body["baseCostInCents"] == runs_settings.BASE_COST_IN_CENTS
    assert body["costInCents"] == pytest.approx(
        body["durationMs"] / 1000 * runs_settings.COST_PER_SECOND_IN_CENTS
    )
    assert body["isSuccess"] is body["isCompleted"] is body["isFinished"] is True
    assert body["isFailed"] is body["isQueued"] is body["isExecuting"] is False


@pytest.mark.django_db
@pytest.mark.parametrize("run_id", ["run_doesnotexist", "123", "batch_abc"])
def test_unknown_run_is_404(api, run_id):
    body = assert_error(api.get(RUN.format(run_id)), 404, "run_not_found")
    assert run_id in body["error"]


# -- the list -------------------------------------------------------------------------------


def ids(response):
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["data"]]


@pytest.fixture
def mixed_runs(api):
    """Runs of two tasks, various statuses and tags, created at known times."""
    runs = {
        "echo_old": triggered(api, "test-echo", tags=["a"]),
        "echo_mid": triggered(api, "test-echo", tags=["a", "b"]),
        "ctx_new": triggered(api, "test-context", tags=["b"]),
        "ctx_plain": triggered(api, "test-context"),
    }
    created = {
        "echo_old": datetime(2024, 1, 1, tzinfo=UTC),
        "echo_mid": datetime(2024, 6, 1, tzinfo=UTC),
        "ctx_new": datetime(2025, 1, 1, tzinfo=UTC),
        "ctx_plain": datetime(2025, 2, 1, tzinfo=UTC),
    }
    for name, when in created.items():
        Run.objects.filter(pk=runs[name].id).update(created_at=when)
    Run.objects.filter(pk=runs["echo_mid"].id).update(status=RunStatus.COMPLETED)
    Run.objects.filter(pk=runs["ctx_new"].id).update(status=RunStatus.FAILED)
    return {name: run.id for name, run in runs.items()}


@pytest.mark.django_db
def test_list_is_newest_first_without_payload_and_output(api, mixed_runs):
    response = api.get(RUNS)
    m = mixed_runs
    assert ids(response) == [m["ctx_plain"], m["ctx_new"], m["echo_mid"], m["echo_old"]]
    item = response.json()["data"][0]
    assert set(item) == RUN_OBJECT_KEYS - {"payload", "output"}
    assert response.json()["pagination"] == {"next": None}


@pytest.mark.django_db
def test_filter_status(api, mixed_runs):
    m = mixed_runs
    assert ids(api.get(RUNS, {"filter[status]": "COMPLETED"})) == [m["echo_mid"]]
    assert set(ids(api.get(RUNS, {"filter[status]": "COMPLETED,FAILED"}))) == {
        m["echo_mid"],
        m["ctx_new"],
    }
    assert set(ids(api.get(RUNS, {"filter[status]": "QUEUED"}))) == {
        m["echo_old"],
        m["ctx_plain"],
    }
    assert ids(api.get(RUNS, {"filter[status]": "CANCELED"})) == []


@pytest.mark.django_db
def test_filter_task_identifier(api, mixed_runs):
    m = mixed_runs
    assert ids(api.get(RUNS, {"filter[taskIdentifier]": "test-echo"})) == [
        m["echo_mid"],
        m["echo_old"],
    ]
    assert len(ids(api.get(RUNS, {"filter[taskIdentifier]": "test-echo,test-context"}))) == 4
    assert ids(api.get(RUNS, {"filter[taskIdentifier]": "nothing"})) == []


@pytest.mark.django_db
def test_filter_tag(api, mixed_runs):
    m = mixed_runs
    assert ids(api.get(RUNS, {"filter[tag]": "a"})) == [m["echo_mid"], m["echo_old"]]
    # Several tags: runs with any of them, each once.
    assert ids(api.get(RUNS, {"filter[tag]": "a,b"})) == [
        m["ctx_new"],
        m["echo_mid"],
        m["echo_old"],
    ]
    assert ids(api.get(RUNS, {"filter[tag]": "zzz"})) == []


@pytest.mark.django_db
def test_filter_created_at_from_and_to(api, mixed_runs):
    m = mixed_runs
    window = {
        "filter[createdAt][from]": "2024-03-01T00:00:00Z",
        "filter[createdAt][to]": "2025-01-15T00:00:00Z",
    }
    assert ids(api.get(RUNS, window)) == [m["ctx_new"], m["echo_mid"]]
    assert ids(api.get(RUNS, {"filter[createdAt][from]": "2025-01-15T00:00:00Z"})) == [
        m["ctx_plain"]
    ]
    assert ids(api.get(RUNS, {"filter[createdAt][to]": "2024-01-01T00:00:00Z"})) == [m["echo_old"]]
    # Offsets other than Z work too.
    assert ids(api.get(RUNS, {"filter[createdAt][to]": "2024-01-01T01:00:00+01:00"})) == [
        m["echo_old"]
    ]


@pytest.mark.django_db
def test_filters_combine(api, mixed_runs):
    m = mixed_runs
    params = {
        "filter[taskIdentifier]": "test-echo",
        "filter[tag]": "b",
        "filter[status]": "COMPLETED",
    }
    assert ids(api.get(RUNS, params)) == [m["echo_mid"]]
    params["filter[status]"] = "QUEUED"
    assert ids(api.get(RUNS, params)) == []


@pytest.mark.django_db
def test_filter_created_at_period(api, mixed_runs):
    fresh = triggered(api, "test-echo")
    assert ids(api.get(RUNS, {"filter[createdAt][period]": "1h"})) == [fresh.id]
    assert_error(api.get(RUNS, {"filter[createdAt][period]": "lately"}), 400, "invalid")
    body = assert_error(api.get(RUNS, {"filter[createdAt][period]": "99999999999w"}), 400)
    assert "filter[createdAt][period]" in body["fields"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params, field",
    [
        ({"filter[unknown]": "x"}, "filter[unknown]"),
        ({"status": "QUEUED"}, "status"),
        ({"filter[status]": "RUNNING"}, "filter[status]"),
        ({"filter[status]": "QUEUED,queued"}, "filter[status]"),
        ({"filter[createdAt][from]": "yesterday"}, "filter[createdAt][from]"),
        ({"filter[createdAt][to]": "2024-13-01T00:00:00Z"}, "filter[createdAt][to]"),
        ({"page[size]": "0"}, "page[size]"),
        ({"page[size]": "101"}, "page[size]"),
        ({"page[size]": "-1"}, "page[size]"),
        ({"page[size]": "ten"}, "page[size]"),
        ({"page[after]": "run_notthere"}, "page[after]"),
    ],
)
def test_bad_list_parameters_are_400_with_fields(api, params, field):
    body = assert_error(api.get(RUNS, params), 400, "invalid")
    assert field in body["fields"], body


@pytest.mark.django_db
def test_page_size_bounds_are_inclusive(api):
    for size in ("1", "100"):
        assert api.get(RUNS, {"page[size]": size}).status_code == 200


def all_pages(api, size, **params):
    pages, after = [], None
    while True:
        query = {"page[size]": str(size), **params}
        if after:
            query["page[after]"] = after
        response = api.get(RUNS, query)
        pages.append(ids(response))
        after = response.json()["pagination"]["next"]
        if after is None:
            return pages
        assert len(pages) < 50, "paging does not end"


@pytest.mark.django_db
def test_cursor_paging_covers_every_run_exactly_once(api):
    # A batch gives runs the same created_at: the cursor must break ties by id.
    response = api.post(BATCH, {"items": [{"task": "test-echo"}] * 4}, format="json")
    assert response.status_code == 200
    singles = [triggered(api, "test-echo").id for _ in range(3)]
    expected = set(response.json()["runs"]) | set(singles)
    pages = all_pages(api, 3)
    assert [len(p) for p in pages] == [3, 3, 1]
    flat = [run_id for page in pages for run_id in page]
    assert len(flat) == len(set(flat)) == 7
    assert set(flat) == expected
    assert flat == ids(api.get(RUNS, {"page[size]": "100"}))


@pytest.mark.django_db
def test_paging_with_an_exact_fit_has_no_empty_last_page(api):
    for _ in range(4):
        triggered(api, "test-echo")
    assert [len(p) for p in all_pages(api, 2)] == [2, 2]


@pytest.mark.django_db
def test_paging_respects_filters(api):
    echo = {triggered(api, "test-echo").id for _ in range(5)}
    for _ in range(3):
        triggered(api, "test-context")
    pages = all_pages(api, 2, **{"filter[taskIdentifier]": "test-echo"})
    assert [len(p) for p in pages] == [2, 2, 1]
    assert {run_id for page in pages for run_id in page} == echo


@pytest.mark.django_db
def test_default_page_size_is_25(api):
    api.post(BATCH, {"items": [{"task": "test-echo"}] * 30}, format="json")
    response = api.get(RUNS)
    assert len(response.json()["data"]) == 25
    assert response.json()["pagination"]["next"] == response.json()["data"][-1]["id"]
