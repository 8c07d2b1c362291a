"""Creating runs: validation, idempotency, numbering, and the hand-off on commit."""

from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from realtime_runs.conf import runs_settings
from realtime_runs.durations import format_duration
from realtime_runs.engine.changes import announce
from realtime_runs.engine.options import check_payload, validate_options
from realtime_runs.errors import InvalidInput
from realtime_runs.models import Batch, Run, RunStatus, RunTag, TaskCounter, idempotency_hash
from realtime_runs.registry import TaskNotFound, get_task


@dataclass
class Triggered:
    run: Run
    is_cached: bool = False  # an idempotency key returned an existing run


@dataclass
class _Item:
    task_id: str
    payload: object
    options: dict


def _validated(task_id, payload, options, prefix=""):
    get_task(task_id)  # TaskNotFound (404) before anything else
    check_payload(payload, field=f"{prefix}payload" if prefix else "payload")
    return _Item(task_id, payload, validate_options(options, prefix=f"{prefix}options."))


def _lock_counter(task_id) -> int:
    """Lock the task's counter row until commit and return its last number.

    The lock also serializes idempotency checks of the task's runs.
    """
    TaskCounter.objects.get_or_create(task_identifier=task_id)
    return TaskCounter.objects.select_for_update().get(task_identifier=task_id).last_number


def _take_numbers(task_id, count) -> int:
    """Reserve ``count`` run numbers of a task in one statement; returns the first."""
    table = connection.ops.quote_name(TaskCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (task_identifier, last_number) VALUES (%s, %s) "
            f"ON CONFLICT (task_identifier) DO UPDATE "
            f"SET last_number = {table}.last_number + EXCLUDED.last_number "
            "RETURNING last_number",
            [task_id, count],
        )
        return cursor.fetchone()[0] - count + 1


def _use_numbers(task_id, count):
    if count:
        TaskCounter.objects.filter(pk=task_id).update(last_number=F("last_number") + count)


def _cached_run(task_id, key, now):
    return (
        Run.objects.filter(
            task_identifier=task_id,
            idempotency_hash=idempotency_hash(key),
            idempotency_key_expires_at__gt=now,
        )
        .order_by("-created_at")
        .first()
    )


def _build_run(item: _Item, number, now, batch=None) -> Run:
    opts = item.options
    task = get_task(item.task_id)
    delayed_until = opts.get("delay")
    delayed = delayed_until is not None and delayed_until > now
    ttl = opts.get("ttl")
    key = opts.get("idempotencyKey", "")
    key_ttl = opts.get("idempotencyKeyTTL", runs_settings.DEFAULT_IDEMPOTENCY_KEY_TTL)
    return Run(
        task_identifier=item.task_id,
        number=number,
        status=RunStatus.DELAYED if delayed else RunStatus.QUEUED,
        payload=item.payload,
        metadata=opts.get("metadata", {}),
        tags=opts.get("tags", []),
        created_at=now,
        updated_at=now,
        queued_at=None if delayed else now,
        delayed_until=delayed_until if delayed else None,
        ready_at=None if delayed else now,
        handed_off_at=None if delayed else now,
        ttl=format_duration(ttl) if ttl else "",
        ttl_seconds=ttl,
        expire_at=now + timedelta(seconds=ttl) if ttl and not delayed else None,
        max_attempts=opts.get("maxAttempts") or task.max_attempts,
        max_duration=opts.get("maxDuration") or task.max_duration,
        idempotency_key=key,
        idempotency_hash=idempotency_hash(key),
        idempotency_key_expires_at=now + timedelta(seconds=key_ttl) if key else None,
        concurrency_key=opts.get("concurrencyKey", ""),
        queue=opts.get("queue", task.queue),
        is_test=opts.get("test", False),
        batch=batch,
        base_cost_in_cents=0.0,
    )


def _insert(items, batch=None, replayed_from=None):
    """Create the runs for validated ``items`` in the current transaction."""
    from realtime_runs.engine.executors import hand_off

    now = timezone.now()
    results: list[Triggered | None] = [None] * len(items)
    by_task: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        by_task.setdefault(item.task_id, []).append(index)
    new_runs = []
    for task_id, indexes in sorted(by_task.items()):
        keyed = any(items[i].options.get("idempotencyKey") for i in indexes)
        if not keyed:
            # Every item is a new run: take its numbers in one statement.
            number = _take_numbers(task_id, len(indexes))
            for index in indexes:
                run = _build_run(items[index], number, now, batch)
                run.replayed_from = replayed_from
                number += 1
                new_runs.append(run)
                results[index] = Triggered(run)
            continue
        # Numbers go to new runs only: a trigger answered from an idempotency key uses none.
        first = number = _lock_counter(task_id) + 1
        for index in indexes:
            item = items[index]
            key = item.options.get("idempotencyKey")
            cached = _cached_run(task_id, key, now) if key else None
            if cached is None and key:
                # The same key twice in one batch gives the same run.
                cached = next(
                    (
                        r
                        for r in new_runs
                        if r.task_identifier == task_id and r.idempotency_key == key
                    ),
                    None,
                )
            if cached is not None:
                results[index] = Triggered(cached, is_cached=True)
                continue
            run = _build_run(item, number, now, batch)
            run.replayed_from = replayed_from
            number += 1
            new_runs.append(run)
            results[index] = Triggered(run)
        _use_numbers(task_id, number - first)
    Run.objects.bulk_create(new_runs)
    RunTag.objects.bulk_create([RunTag(run=run, name=tag) for run in new_runs for tag in run.tags])
    for run in new_runs:
        announce(run)
        if run.status == RunStatus.QUEUED:
            hand_off(run.id)
    return results


def trigger(task_id, payload=None, options=None, *, replayed_from=None) -> Triggered:
    """Validate and create one run; it is handed to the executor when the transaction commits."""
    item = _validated(task_id, payload, options)
    with transaction.atomic():
        return _insert([item], replayed_from=replayed_from)[0]


def batch_trigger(items) -> tuple[Batch, list[Triggered]]:
    """Create a batch of runs, all or nothing: one bad item rejects the whole batch."""
    if not isinstance(items, list) or not items:
        raise InvalidInput({"items": "must be a non-empty list"})
    if len(items) > runs_settings.MAX_BATCH_SIZE:
        raise InvalidInput(
            {"items": f"a batch has at most {runs_settings.MAX_BATCH_SIZE} items; got {len(items)}"}
        )
    validated = []
    for index, item in enumerate(items):
        prefix = f"items[{index}]."
        if not isinstance(item, dict):
            raise InvalidInput({f"items[{index}]": "must be an object"})
        unknown = sorted(set(item) - {"task", "payload", "options"})
        if unknown:
            raise InvalidInput({f"{prefix}{name}": "is not an item field" for name in unknown})
        task_id = item.get("task")
        if not isinstance(task_id, str) or not task_id:
            raise InvalidInput({f"{prefix}task": "is required: the id of the task to run"})
        try:
            validated.append(_validated(task_id, item.get("payload"), item.get("options"), prefix))
        except TaskNotFound as exc:
            raise TaskNotFound(f"items[{index}]: {exc}") from None
    with transaction.atomic():
        batch = Batch.objects.create()
        return batch, _insert(validated, batch=batch)
