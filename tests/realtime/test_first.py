import pytest

from realtime_runs.models import RunStatus
from realtime_runs.sdk import auth, tasks

pytestmark = pytest.mark.django_db(transaction=True)


async def test_run_subscription_follows_a_run_to_completion(worker, socket):
    from asgiref.sync import sync_to_async

    handle = await sync_to_async(tasks.trigger)("demo-stream", {"text": "a b c d", "delay": 0.01})
    token = await sync_to_async(auth.create_public_token)({"read": {"runs": [handle.id]}})
    async with socket() as ws:
        await ws.send(type="subscribe", id="s1", token=token, run=handle.id, streams=True)
        frames = await ws.receive_until(lambda f: f["type"] == "complete")
    assert frames[0] == {"type": "subscribed", "id": "s1"}
    runs = [f["run"] for f in frames if f["type"] == "run"]
    versions = [r["version"] for r in runs]
    assert versions == sorted(set(versions))
    assert runs[-1]["status"] == RunStatus.COMPLETED
    words = [f["chunk"] for f in frames if f["type"] == "stream"]
    assert words == ["a", "b", "c", "d"]
    assert [f["seq"] for f in frames if f["type"] == "stream"] == [1, 2, 3, 4]
