"""The publisher side of the fan-out benchmark (bench/fanout.py starts it; not run by hand).

    fanout_publish.py setup                      create the watched run, print {"run_id", …}
    fanout_publish.py ours RUN_ID PASS N RATE    N changes of the run through the engine
    fanout_publish.py r0 CHANNEL PASS N RATE BYTES   N messages PUBLISHed on Redis for R0

Every change carries ``{"p": pass, "i": index, "t": send time}`` in its metadata, so the load
generator can count what each socket lost or got twice and how long each delivery took.
RATE is changes a second; 0 means as fast as this process manages. Prints one JSON line.
"""

import json
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def django_setup():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "realtime_runs.settings")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def paced(n, rate):
    """Yield 0..n-1, sleeping so that item i is not released before start + i / rate."""
    start = time.perf_counter()
    for i in range(n):
        if rate > 0:
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        yield i


def setup():
    django_setup()
    from realtime_runs.models import Run
    from realtime_runs.realtime.publish import dumps
    from realtime_runs.realtime.subscriptions import run_frame
    from realtime_runs.sdk import tasks

    # Delayed by an hour: no worker ever picks it up, so it stays non-final (a run subscription
    # ends with the final status) and only our updates change it.
    handle = tasks.trigger("demo-progress", {"steps": 1}, delay="1h", tags=["benchfan"])
    run = Run.objects.get(pk=handle.id)
    run.metadata = {"p": -1, "i": 0, "t": time.time()}
    frame = run_frame("s1", dumps(run.to_dict()))
    print(json.dumps({"run_id": run.id, "version": run.version, "frame_bytes": len(frame)}))


class OverCapacity(logging.Handler):
    """Counts channels-redis's "N of M channels over capacity in group G" (INFO) records:
    group_send dropped the message for those channels' inboxes, which were full."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.dropped = 0

    def emit(self, record):
        if "over capacity" in record.msg and str(record.args[2]).startswith("rr.run."):
            self.dropped += int(record.args[0])


def publish_ours(run_id, pass_id, n, rate):
    django_setup()
    from realtime_runs.engine.changes import update_run
    from realtime_runs.realtime.publish import publisher

    over = OverCapacity()
    layer_log = logging.getLogger("channels_redis.core")
    layer_log.setLevel(logging.INFO)
    layer_log.addHandler(over)

    t0 = time.time()
    for i in paced(n, rate):
        # Autocommit: each update is its own transaction and is published on its commit.
        if not update_run(run_id, metadata={"p": pass_id, "i": i, "t": time.time()}):
            raise SystemExit(f"run {run_id} not found")
    committed = time.time()
    idle = publisher.wait_idle(timeout=120)  # every group_send handed to Redis
    done = time.time()
    print(
        json.dumps(
            {
                "published": n,
                "commit_rate": n / max(committed - t0, 1e-9),
                "handed_to_layer_rate": n / max(done - t0, 1e-9),
                "drained": idle,
                # Messages group_send did not store because the server's inbox was full.
                "dropped_over_capacity": over.dropped,
            }
        )
    )


def publish_r0(channel, pass_id, n, rate, frame_bytes):
    import redis

    client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    template = {"type": "run", "id": "s1", "run": {"version": 0, "metadata": {}, "pad": ""}}
    # Pad to the size of our run frame, so both servers move the same bytes.
    size = len(json.dumps(template, separators=(",", ":"))) + 60
    pad = "x" * max(0, frame_bytes - size)
    t0 = time.time()
    for i in paced(n, rate):
        frame = {
            "type": "run",
            "id": "s1",
            "run": {"version": i + 1, "metadata": {"p": pass_id, "i": i, "t": time.time()}},
        }
        frame["run"]["pad"] = pad
        client.publish(channel, json.dumps(frame, separators=(",", ":")))
    done = time.time()
    client.close()
    rate_done = n / max(done - t0, 1e-9)
    print(json.dumps({"published": n, "commit_rate": rate_done, "handed_to_layer_rate": rate_done}))


def main(argv):
    if argv[:1] == ["setup"]:
        return setup()
    if len(argv) == 5 and argv[0] == "ours":
        return publish_ours(argv[1], int(argv[2]), int(argv[3]), float(argv[4]))
    if len(argv) == 6 and argv[0] == "r0":
        return publish_r0(argv[1], int(argv[2]), int(argv[3]), float(argv[4]), int(argv[5]))
    raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
