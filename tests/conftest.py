import os
import time

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from realtime_runs.conf import runs_settings
from realtime_runs.engine.executors import get_executor
from realtime_runs.models import ApiKey, Run

IN_CI = os.environ.get("CI") == "true"


def scaled_out():
    """True when the suite runs against PostgreSQL and Redis (the scaled-out configuration)."""
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql") and bool(
        settings.REDIS_URL
    )


def pytest_collection_modifyitems(config, items):
    if scaled_out():
        return
    reason = "needs PostgreSQL and Redis: set DATABASE_URL and REDIS_URL (make test does)"
    for item in items:
        if "celery" in item.keywords:
            if IN_CI and os.environ.get("RUNS_REQUIRE_SERVICES") == "1":
                item.add_marker(pytest.mark.xfail(reason=reason, run=False, strict=True))
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def api_key(db):
    _, secret = ApiKey.objects.create_key(name="test")
    return secret


@pytest.fixture
def api(api_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return client


@pytest.fixture(scope="session")
def celery_workers(django_db_setup, tmp_path_factory):
    """The shared Celery worker process of the session, started on first use."""
    from tests.support.celery_workers import SharedWorker

    shared = SharedWorker(log_dir=tmp_path_factory.mktemp("celery"))
    yield shared
    shared.stop()


@pytest.fixture
def worker(request, transactional_db):
    """Something that executes runs: inline threads here, or a real Celery worker process."""
    if runs_settings.EXECUTOR == "celery":
        yield request.getfixturevalue("celery_workers").ensure_running()
        return
    executor = get_executor()
    executor.start()
    yield executor
    executor.stop()


def wait_for(predicate, timeout=15.0, interval=0.02, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def wait_for_status(run_id, *statuses, timeout=15.0) -> Run:
    """Poll the database until the run has one of ``statuses``; returns it."""

    def check():
        run = Run.objects.get(pk=run_id)
        return run if run.status in statuses else None

    try:
        return wait_for(check, timeout, message=f"{run_id} to be {'/'.join(statuses)}")
    except AssertionError:
        run = Run.objects.get(pk=run_id)
        raise AssertionError(
            f"{run_id} is {run.status} after {timeout}s, not {'/'.join(statuses)}: {run.error}"
        ) from None
