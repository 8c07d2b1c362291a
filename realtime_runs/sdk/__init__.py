"""The in-process Python API of CONTRACT.md §5: ``task``, ``tasks``, ``runs``, ``metadata``."""

from realtime_runs.engine.execution import AbortTaskRunError
from realtime_runs.registry import task
from realtime_runs.sdk import auth, metadata, runs, tasks, wait

__all__ = ["AbortTaskRunError", "auth", "metadata", "runs", "task", "tasks", "wait"]
