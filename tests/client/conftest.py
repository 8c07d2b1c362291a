import pytest

from realtime_runs.client import RealtimeClient
from realtime_runs.conf import runs_settings
from tests.support.servers import Daphne


@pytest.fixture(scope="package")
def daphne(django_db_setup, tmp_path_factory):
    """A real server; with the inline executor it also runs the tasks (and publishes)."""
    server = Daphne(tmp_path_factory.mktemp("daphne") / "daphne.log").start()
    yield server
    server.stop()


@pytest.fixture
def client(request, transactional_db, daphne, api_key):
    if runs_settings.EXECUTOR == "celery":
        request.getfixturevalue("celery_workers").ensure_running()
    with RealtimeClient(daphne.url, api_key) as client:
        yield client
