"""``@task``: registering task functions by id."""

import importlib
import inspect
from dataclasses import dataclass

from django.utils.module_loading import autodiscover_modules

from realtime_runs.durations import parse_duration
from realtime_runs.errors import NotFound

_registry: dict[str, "Task"] = {}


class TaskNotFound(NotFound):
    code = "task_not_found"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff between attempts (Trigger.dev's ``retry`` options, in seconds)."""

    factor: float = 2.0
    min_timeout: float = 1.0
    max_timeout: float = 60.0
    randomize: bool = True

    def delay(self, attempt: int, rand: float = 0.5) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        base = min(self.max_timeout, self.min_timeout * self.factor ** (attempt - 1))
        if self.randomize:
            base *= 0.5 + rand  # jitter in [0.5x, 1.5x), like Trigger.dev's
        return min(self.max_timeout, base)


RETRY_OPTIONS = ("factor", "min_timeout", "max_timeout", "randomize")


def retry_policy(options) -> RetryPolicy:
    """A RetryPolicy from Trigger.dev-style options (unknown keys are ignored)."""
    return RetryPolicy(
        **{key: float(options[key]) for key in RETRY_OPTIONS[:3] if key in options},
        randomize=bool(options.get("randomize", True)),
    )


@dataclass(frozen=True)
class Task:
    id: str
    fn: object
    max_attempts: int | None = None
    max_duration: float | None = None
    # The task's own retry options, as (key, value) pairs; the rest come from the settings.
    retry_options: tuple = ()
    queue: str = ""

    @property
    def is_async(self):
        return inspect.iscoroutinefunction(self.fn)

    @property
    def retry(self) -> RetryPolicy:
        """The task's retry options over REALTIME_RUNS["DEFAULT_RETRY"].

        Read when a retry is scheduled, not at registration: tasks are registered at import,
        and the setting must apply to them all the same.
        """
        from realtime_runs.conf import runs_settings

        return retry_policy({**runs_settings.DEFAULT_RETRY, **dict(self.retry_options)})

    def __call__(self, payload, ctx):
        return self.fn(payload, ctx)

    def trigger(self, payload=None, **options):
        """Shortcut for ``tasks.trigger(this_task.id, payload, **options)``."""
        from realtime_runs.sdk import tasks

        return tasks.trigger(self.id, payload, **options)

    def batch_trigger(self, items, **options):
        from realtime_runs.sdk import tasks

        return tasks.batch_trigger(self.id, items, **options)


def task(id, *, max_attempts=None, max_duration=None, retry=None, queue=""):  # noqa: A002
    """Register ``fn(payload, ctx)`` (plain or ``async def``) as the task ``id``."""
    if not isinstance(id, str) or not id or len(id) > 128:
        raise ValueError("a task id is a non-empty string of at most 128 characters")
    retry = dict(retry or {})
    if "max_attempts" in retry:
        max_attempts = retry.pop("max_attempts")
    if max_attempts is not None and (not isinstance(max_attempts, int) or max_attempts < 1):
        raise ValueError("max_attempts must be a whole number of at least 1")
    unknown = set(retry) - set(RETRY_OPTIONS)
    if unknown:
        raise ValueError(f"unknown retry option(s): {', '.join(sorted(unknown))}")
    retry_policy(retry)  # bad values fail here, at registration

    def register(fn):
        definition = Task(
            id=id,
            fn=fn,
            max_attempts=max_attempts,
            max_duration=parse_duration(max_duration) if max_duration is not None else None,
            retry_options=tuple(sorted(retry.items())),
            queue=queue,
        )
        existing = _registry.get(id)
        if existing and existing.fn.__qualname__ != fn.__qualname__:
            raise ValueError(f"task id {id!r} is already registered by {existing.fn!r}")
        _registry[id] = definition
        return definition

    return register


def get_task(task_id) -> Task:
    try:
        return _registry[task_id]
    except KeyError:
        raise TaskNotFound(f"No task is registered with the id {task_id!r}.") from None


def all_tasks():
    return dict(sorted(_registry.items()))


def autodiscover():
    """Import each installed app's ``tasks`` module, TASK_MODULES and the demo tasks."""
    from realtime_runs.conf import runs_settings

    autodiscover_modules("tasks")
    for module in runs_settings.TASK_MODULES:
        importlib.import_module(module)
    if runs_settings.DEMO_TASKS:
        importlib.import_module("realtime_runs.demo_tasks")
