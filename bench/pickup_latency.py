"""Trigger → EXECUTING pickup latency, for the inline and the Celery executor.

Runs of the no-op task ``bench-noop`` are triggered one at a time: the next one only after the
previous run finished. Latency is measured from just before ``tasks.trigger`` to the run's
``started_at`` (the timestamp the worker writes when the run becomes EXECUTING; same machine,
same clock), so how often this process polls does not change the figure.

    .venv/bin/python bench/pickup_latency.py --executor inline --runs 300
    .venv/bin/python bench/pickup_latency.py --executor celery --runs 300

inline: an InlineExecutor started in this process (its worker threads execute the runs).
celery: a real ``celery -A realtime_runs.celery worker`` subprocess (prefork), on a queue of
this benchmark's own, against the same PostgreSQL and Redis.
"""

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402


def celery_worker(concurrency):
    env = common.bench_env("celery", queue=os.environ["CELERY_QUEUE"])
    return common.Subprocess(
        "celery",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "realtime_runs.celery",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            str(concurrency),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--hostname",
            f"bench-{os.getpid()}@%h",
            "--loglevel",
            "INFO",
        ],
        env=env,
    )


def measure(runs, warmup, timeout):
    from realtime_runs.models import FINAL_STATUSES, Run
    from realtime_runs.sdk import tasks

    latencies, totals, calls = [], [], []
    for i in range(warmup + runs):
        t0 = datetime.now(UTC)
        handle = tasks.trigger(common.TASK_ID, {"n": i})
        t_returned = datetime.now(UTC)
        deadline = time.monotonic() + timeout
        row = None
        while time.monotonic() < deadline:  # bounded: poll until the run finished
            row = Run.objects.filter(pk=handle.id).values("status", "started_at").first()
            if row["status"] in FINAL_STATUSES:
                break
            time.sleep(0.002)
        else:
            raise TimeoutError(f"run {handle.id} not finished in {timeout}s: {row}")
        t_done = datetime.now(UTC)
        if row["status"] != "COMPLETED" or row["started_at"] is None:
            raise RuntimeError(f"run {handle.id} ended {row}")
        if i >= warmup:
            latencies.append((row["started_at"] - t0).total_seconds())
            totals.append((t_done - t0).total_seconds())
            calls.append((t_returned - t0).total_seconds())
    return latencies, totals, calls


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executor", choices=["inline", "celery"], required=True)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=2, help="celery worker processes")
    parser.add_argument("--timeout", type=float, default=10.0, help="per run, seconds")
    args = parser.parse_args()

    common.configure(args.executor)
    from realtime_runs.engine.executors import get_executor

    common.reset_runs()
    if args.executor == "inline":
        executor = get_executor()
        executor.start()
        try:
            latencies, totals, calls = measure(args.runs, args.warmup, args.timeout)
        finally:
            executor.stop()
    else:
        try:
            with celery_worker(args.concurrency) as worker:

                def ready():
                    worker.check_alive()
                    return " ready." in worker.log_text()

                common.wait_until(ready, timeout=30, interval=0.1, what="celery worker ready")
                latencies, totals, calls = measure(args.runs, args.warmup, args.timeout)
        finally:
            common.drop_queue(os.environ["CELERY_QUEUE"])
    common.reset_runs()

    target = {"inline": 50, "celery": 100}[args.executor]
    common.emit(
        {
            "bench": "pickup_latency",
            "mode": args.executor,
            **common.summary_ms(latencies),
            # Of the latency, the trigger call itself (create the run, commit, hand off):
            "trigger_call_p50_ms": round(common.percentile([t * 1000 for t in calls], 50), 2),
            "trigger_to_completed_p50_ms": round(
                common.percentile([t * 1000 for t in totals], 50), 2
            ),
            "target_p50_ms": target,
        }
    )


if __name__ == "__main__":
    main()
