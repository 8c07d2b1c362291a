"""Where stream chunks live: a table (StreamChunk) or Redis streams (XADD), measured side by side.

The scenario of DESIGN.md: 100 runs each streaming 50 chunks a second, written the way the
engine writes them (a batch every STREAM_FLUSH_INTERVAL, so ~3 chunks per write at 50/s), for
a bounded time. For each store: chunks/s it keeps up with, write latency p50/p99 per batch,
and the time to read one run's whole stream back (a reconnecting reader's catch-up).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python bench/stream_store.py
"""

import argparse
import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import configure, percentile, reset_runs  # noqa: E402


def writers(store, seconds, rate, batch_every, threads=8):
    """Each of ``threads`` threads owns some runs; every ``batch_every`` seconds it writes, for
    each of its runs, the chunks that run produced at ``rate`` chunks/s since the last batch
    (what a worker's stream writers do). Returns batch write latencies, chunks written, time."""
    latencies, written, lock = [], [0], threading.Lock()
    stop_at = time.monotonic() + seconds
    per_batch = max(1, round(rate * batch_every))

    def one(run_ids):
        from django.db import connection

        seqs = dict.fromkeys(run_ids, 0)
        next_batch = time.monotonic()
        try:
            while time.monotonic() < stop_at:
                for run_id in run_ids:
                    chunks = [
                        (seqs[run_id] + i + 1, {"token": f"w{seqs[run_id] + i}"})
                        for i in range(per_batch)
                    ]
                    seqs[run_id] += per_batch
                    started = time.perf_counter()
                    store.write(run_id, chunks)
                    took = time.perf_counter() - started
                    with lock:
                        latencies.append(took)
                        written[0] += per_batch
                next_batch += batch_every
                time.sleep(max(0.0, next_batch - time.monotonic()))
        finally:
            connection.close()

    groups = [store.run_ids[i::threads] for i in range(threads)]
    workers = [threading.Thread(target=one, args=(group,)) for group in groups if group]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return latencies, written[0], time.monotonic() - started


class TableStore:
    name = "table (StreamChunk, one bulk INSERT a batch)"

    def __init__(self, run_ids):
        self.run_ids = run_ids

    def write(self, run_id, chunks):
        from django.db import transaction

        from realtime_runs.models import StreamChunk

        with transaction.atomic():
            StreamChunk.objects.bulk_create(
                StreamChunk(run_id=run_id, key="tokens", seq=seq, data=data) for seq, data in chunks
            )

    def read(self, run_id):
        from realtime_runs.engine.streams import chunks_since

        return sum(1 for _ in chunks_since(run_id, {}))


class RedisStreamStore:
    name = "Redis streams (XADD per chunk, pipelined a batch)"

    def __init__(self, run_ids):
        import os

        import redis

        self.run_ids = run_ids
        self.client = redis.Redis.from_url(os.environ["REDIS_URL"])
        self.client.delete(*[f"bench:stream:{r}" for r in run_ids])

    def write(self, run_id, chunks):
        pipe = self.client.pipeline(transaction=False)
        for seq, data in chunks:
            pipe.xadd(f"bench:stream:{run_id}", {"seq": seq, "data": json.dumps(data)})
        pipe.execute()

    def read(self, run_id):
        return len(self.client.xrange(f"bench:stream:{run_id}"))

    def close(self):
        self.client.delete(*[f"bench:stream:{r}" for r in self.run_ids])
        self.client.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--rate", type=float, default=50.0, help="chunks/s per run")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=8, help="writer threads (connections)")
    args = parser.parse_args()
    configure("inline")
    from realtime_runs.conf import runs_settings
    from realtime_runs.sdk import tasks

    reset_runs()
    run_ids = [h.id for h in tasks.batch_trigger("bench-noop", [{} for _ in range(args.runs)]).runs]
    results = []
    for store in (TableStore(run_ids), RedisStreamStore(run_ids)):
        latencies, written, took = writers(
            store, args.seconds, args.rate, runs_settings.STREAM_FLUSH_INTERVAL, args.threads
        )
        started = time.perf_counter()
        count = store.read(run_ids[0])
        read_ms = (time.perf_counter() - started) * 1000
        results.append(
            {
                "store": store.name,
                "target_chunks_per_s": args.runs * args.rate,
                "chunks_per_s": round(written / took),
                "write_p50_ms": round(percentile(latencies, 50) * 1000, 2),
                "write_p99_ms": round(percentile(latencies, 99) * 1000, 2),
                "catch_up_read_ms": round(read_ms, 2),
                "catch_up_chunks": count,
            }
        )
        if hasattr(store, "close"):
            store.close()
    reset_runs()
    for row in results:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
