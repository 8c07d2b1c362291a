"""The layer is at-most-once: a run message it drops must not leave a subscriber behind."""

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings

from realtime_runs.engine.changes import move_run
from realtime_runs.realtime import publish
from tests.realtime import support as s

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_lost_final_message_still_reaches_the_subscriber(socket, settings, monkeypatch):
    settings.REALTIME_RUNS = {
        **django_settings.REALTIME_RUNS,
        "REVOCATION_CHECK_INTERVAL": 0.1,
        "RESYNC_INTERVAL": 0.3,
    }
    run_id = await s.parked_run()
    token = await s.token([f"read:runs:{run_id}"])
    async with socket() as ws:
        await ws.send(type="subscribe", id="r", token=token, run=run_id)
        await ws.receive_until(s.is_("run", "r"))
        # The layer drops everything from here on: only the table knows the run was canceled.
        monkeypatch.setattr(publish.publisher, "publish_run", lambda run: None)
        await sync_to_async(move_run)(run_id, "CANCELED")
        frames = await ws.receive_until(lambda f: f["type"] == "complete", timeout=5)
    [final] = s.runs_of(frames, "r")
    assert final["status"] == "CANCELED"
    assert frames[-1] == {"type": "complete", "id": "r"}
