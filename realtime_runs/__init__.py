"""realtime_runs: background tasks for Django, with runs you can watch live.

The SDK names of CONTRACT.md §5 are importable from here (``from realtime_runs import task,
tasks, runs, metadata``). They load lazily, because this package is also the Django project:
settings import it before the app registry is ready.
"""

_SDK = {"task", "tasks", "runs", "metadata", "auth", "wait", "AbortTaskRunError"}

__all__ = sorted(_SDK)


def __getattr__(name):
    if name in _SDK:
        from realtime_runs import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'realtime_runs' has no attribute {name!r}")
