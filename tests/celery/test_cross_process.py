"""Two Daphne servers, a Celery worker, Redis and PostgreSQL: the scaled-out deployment."""

import json
import uuid

import pytest
from websockets.sync.client import connect

from realtime_runs.client import RealtimeClient
from tests.support.servers import Daphne

pytestmark = pytest.mark.celery


@pytest.fixture
def two_servers(transactional_db, celery_workers, tmp_path):
    celery_workers.ensure_running()
    servers = [Daphne(tmp_path / f"daphne-{name}.log").start() for name in "ab"]
    yield servers
    for server in servers:
        server.stop()


def test_a_socket_on_server_a_sees_every_change_of_a_run_triggered_through_server_b(
    two_servers, api_key
):
    a, b = two_servers
    tag = f"xproc-{uuid.uuid4().hex[:8]}"
    with RealtimeClient(a.url, api_key) as on_a, RealtimeClient(b.url, api_key) as on_b:
        token = on_a.auth.create_public_token([f"read:tags:{tag}"])
        ws_url = a.url.replace("http://", "ws://") + "/realtime/v1/ws"
        with connect(ws_url) as socket:
            socket.send(json.dumps({"type": "subscribe", "id": "t", "token": token, "tags": [tag]}))
            assert json.loads(socket.recv(timeout=10)) == {"type": "subscribed", "id": "t"}
            handle = on_b.tasks.trigger("demo-progress", {"steps": 4, "delay": 0.05}, tags=[tag])
            runs = []
            while not runs or runs[-1]["status"] != "COMPLETED":
                frame = json.loads(socket.recv(timeout=20))
                assert frame["type"] == "run", frame
                runs.append(frame["run"])
        final = on_b.runs.retrieve(handle.id).to_dict()
    assert {run["id"] for run in runs} == {handle.id}
    # Every change, from the run's creation to its end, once each and in order.
    assert [run["version"] for run in runs] == list(range(1, final["version"] + 1))
    statuses = [run["status"] for run in runs]
    assert statuses[0] == "QUEUED" and "EXECUTING" in statuses
    assert runs[-1] == final
    assert final["metadata"]["progress"] == 100
