"""SDK trigger throughput: ``tasks.trigger`` and ``tasks.batch_trigger`` in one process.

No executor consumes: RUNS_EXECUTOR=inline and the inline executor is never started, so the
hand-off is only a put on an in-memory queue and the figure is the cost of creating runs.

    .venv/bin/python bench/sdk_trigger.py --runs 2000 --batches 8 --batch-size 500
    .venv/bin/python bench/sdk_trigger.py --runs 2000 --profile   # cProfile of the single path
"""

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000, help="single triggers")
    parser.add_argument("--batches", type=int, default=8, help="batch_trigger calls")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--max-seconds", type=float, default=20, help="per phase, stop early")
    parser.add_argument(
        "--no-publish",
        action="store_true",
        help="diagnosis: disconnect the realtime publisher's run_changed receiver",
    )
    parser.add_argument("--profile", action="store_true", help="print a cProfile of trigger")
    args = parser.parse_args()

    common.configure("inline")
    from django.db import connection

    from realtime_runs.engine.executors import get_executor
    from realtime_runs.sdk import tasks

    assert not get_executor().started, "the executor must not consume during this benchmark"
    mode_suffix = ""
    if args.no_publish:
        from realtime_runs.engine.changes import run_changed

        run_changed.disconnect(dispatch_uid="realtime_runs.publish_run_changed")
        mode_suffix = ", publisher off"
    common.reset_runs()
    payload = {"n": 0, "text": "hello"}

    for i in range(args.warmup):  # connections, caches, the task counter row
        tasks.trigger(common.TASK_ID, {**payload, "n": -i})
    common.drain_publisher()

    queries = [0]

    def count(execute, sql, params, many, context):
        queries[0] += 1
        return execute(sql, params, many, context)

    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    started, cpu_started = time.perf_counter(), time.process_time()
    deadline = time.perf_counter() + args.max_seconds
    runs = 0
    with connection.execute_wrapper(count):
        while runs < args.runs and time.perf_counter() < deadline:
            tasks.trigger(common.TASK_ID, {**payload, "n": runs})
            runs += 1
        single_calls_s = time.perf_counter() - started
        assert common.drain_publisher(), "the realtime publisher did not drain"
    single_s = time.perf_counter() - started
    single_cpu = time.process_time() - cpu_started
    single_queries, queries[0] = queries[0], 0
    if profiler:
        profiler.disable()
        stats = pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative")
        stats.print_stats(35)

    items = [{"payload": {**payload, "n": i}} for i in range(args.batch_size)]
    tasks.batch_trigger(common.TASK_ID, items)  # warm-up batch
    common.drain_publisher()
    started, cpu_started = time.perf_counter(), time.process_time()
    deadline = time.perf_counter() + args.max_seconds
    batches = 0
    with connection.execute_wrapper(count):
        while batches < args.batches and time.perf_counter() < deadline:
            tasks.batch_trigger(common.TASK_ID, items)
            batches += 1
        calls_s = time.perf_counter() - started  # the rest: publishing the changes
        assert common.drain_publisher(), "the realtime publisher did not drain"
    batch_s = time.perf_counter() - started
    batch_cpu = time.process_time() - cpu_started
    batch_runs = batches * args.batch_size

    from realtime_runs.models import Run

    created = Run.objects.filter(task_identifier=common.TASK_ID).count()
    expected = args.warmup + runs + (batches + 1) * args.batch_size
    assert created == expected, f"{created} runs in the database, expected {expected}"
    common.reset_runs()

    common.emit(
        {
            "bench": "sdk_trigger",
            "mode": "trigger" + mode_suffix,
            "runs": runs,
            "seconds": round(single_s, 3),
            "runs_per_s": round(runs / single_s, 1),
            "ms_per_run": round(single_s * 1000 / runs, 3),
            # CPU of this process (all threads) per run: the rest of ms_per_run is waiting.
            "cpu_ms_per_run": round(single_cpu * 1000 / runs, 3),
            # SQL statements this thread sent per run (BEGIN/COMMIT not counted).
            "queries_per_run": round(single_queries / runs, 2),
            # Of ``seconds``, until the last trigger returned; the rest is the publisher's backlog.
            "calls_seconds": round(single_calls_s, 3),
            "target_runs_per_s": 500,
        }
    )
    common.emit(
        {
            "bench": "sdk_trigger",
            "mode": f"batch_trigger x{args.batch_size}" + mode_suffix,
            "runs": batch_runs,
            "seconds": round(batch_s, 3),
            "runs_per_s": round(batch_runs / batch_s, 1),
            "ms_per_batch": round(batch_s * 1000 / batches, 1),
            "cpu_ms_per_run": round(batch_cpu * 1000 / batch_runs, 3),
            "queries_per_run": round(queries[0] / batch_runs, 2),
            "calls_seconds": round(calls_s, 3),
            "target_runs_per_s": 500,
        }
    )


if __name__ == "__main__":
    main()
