"""An experiment, not a benchmark of the shipped code: what two small changes to triggering buy.

Patches ``realtime_runs.engine.trigger`` at run time (the site's code is not changed) and
measures ``tasks.trigger`` runs/s (no executor consuming, as bench/sdk_trigger.py):

- as shipped;
- + the task counter locked and read by one ``INSERT … ON CONFLICT DO UPDATE … RETURNING``
  instead of ``get_or_create`` + ``SELECT … FOR UPDATE`` (two statements, one round trip less);
- + ``validate_options`` skipped when there are no options (no DRF serializer per trigger).

    .venv/bin/python bench/experiment_trigger.py --runs 1000
"""

import argparse
import importlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    common.configure("inline")
    from django.db import connection

    from realtime_runs.models import TaskCounter
    from realtime_runs.sdk import tasks

    trigger_module = importlib.import_module("realtime_runs.engine.trigger")
    common.reset_runs()

    def measure(label):
        for i in range(30):
            tasks.trigger(common.TASK_ID, {"n": -i})
        common.drain_publisher()
        started = time.perf_counter()
        for i in range(args.runs):
            tasks.trigger(common.TASK_ID, {"n": i})
        assert common.drain_publisher()
        elapsed = time.perf_counter() - started
        common.emit(
            {
                "bench": "experiment_trigger",
                "mode": label,
                "runs": args.runs,
                "seconds": round(elapsed, 3),
                "runs_per_s": round(args.runs / elapsed, 1),
                "ms_per_run": round(elapsed * 1000 / args.runs, 3),
            }
        )

    measure("as shipped")

    if not hasattr(trigger_module, "_lock_counter"):
        sys.exit("this version has no _lock_counter(): the experiment does not apply")
    table = TaskCounter._meta.db_table

    def lock_counter(task_id):
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (task_identifier, last_number) VALUES (%s, 0) "
                f"ON CONFLICT (task_identifier) DO UPDATE SET last_number = {table}.last_number "
                "RETURNING last_number",
                [task_id],
            )
            return cursor.fetchone()[0]

    trigger_module._lock_counter = lock_counter
    measure("+ counter: one upsert")

    shipped = trigger_module.validate_options
    trigger_module.validate_options = lambda options, prefix="": (
        {} if not options else shipped(options, prefix=prefix)
    )
    measure("+ counter: one upsert, + no serializer for empty options")
    common.reset_runs()


if __name__ == "__main__":
    main()
