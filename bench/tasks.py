"""Bench-only tasks, registered with ``RUNS_TASK_MODULES=bench.tasks``."""

from realtime_runs.registry import task


@task(id="bench-noop", max_attempts=1)
def noop(payload, ctx):
    """Does nothing: the pickup benchmark measures the platform, not the task."""
    return None
