"""Triggering tasks from Python: ``tasks.trigger`` and ``tasks.batch_trigger``."""

from dataclasses import dataclass, field
from functools import cached_property

from realtime_runs import engine
from realtime_runs.engine.execution import outside_event_loop

# Python names of the trigger options → their names in the REST API (CONTRACT.md §3).
OPTION_NAMES = {
    "tags": "tags",
    "idempotency_key": "idempotencyKey",
    "idempotency_key_ttl": "idempotencyKeyTTL",
    "delay": "delay",
    "ttl": "ttl",
    "metadata": "metadata",
    "max_attempts": "maxAttempts",
    "max_duration": "maxDuration",
    "concurrency_key": "concurrencyKey",
    "queue": "queue",
    "test": "test",
}


def to_api_options(options: dict) -> dict:
    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        raise TypeError(
            f"unknown trigger option(s): {', '.join(unknown)}; "
            f"the options are {', '.join(OPTION_NAMES)}"
        )
    return {OPTION_NAMES[name]: value for name, value in options.items() if value is not None}


@dataclass
class RunHandle:
    """What triggering returns: the run's id (and, once fetched, the run)."""

    id: str
    is_cached: bool = False
    task_identifier: str = ""

    def retrieve(self):
        from realtime_runs.sdk import runs

        return runs.retrieve(self.id)

    @cached_property
    def public_access_token(self) -> str:
        """A token that may read this run (15 minutes), minted on first use."""
        from realtime_runs.sdk import auth

        return auth.create_public_token({"read": {"runs": [self.id]}})


@dataclass
class BatchHandle:
    id: str
    runs: list[RunHandle] = field(default_factory=list)

    @cached_property
    def public_access_token(self) -> str:
        """A token that may read this batch's runs (15 minutes), minted on first use."""
        from realtime_runs.sdk import auth

        return auth.create_public_token({"read": {"batch": [self.id]}})


def trigger(task_id, payload=None, **options) -> RunHandle:
    """Trigger one run of ``task_id``; options as in the REST API, in snake_case."""
    result = outside_event_loop(engine.trigger, task_id, payload, to_api_options(options))
    return RunHandle(result.run.id, result.is_cached, task_id)


def batch_trigger(task_id, items, **options) -> BatchHandle:
    """Trigger many runs of one task: ``items`` is ``[{"payload": …, "options": {…}}, …]``.

    ``options`` given here apply to every item (an item's own options win).
    """
    shared = to_api_options(options)
    batch_items = []
    for item in items:
        item = dict(item)
        own = to_api_options(item.pop("options", None) or {})
        batch_items.append(
            {"task": item.pop("task", task_id), **item, "options": {**shared, **own}}
        )
    return batch_trigger_many(batch_items)


def batch_trigger_many(items) -> BatchHandle:
    """Trigger runs of several tasks at once: ``[{"task": id, "payload": …, "options": …}]``."""
    batch, results = outside_event_loop(engine.batch_trigger, items)
    return BatchHandle(
        batch.id, [RunHandle(r.run.id, r.is_cached, r.run.task_identifier) for r in results]
    )
