"""The run object of CONTRACT.md §1: camelCase JSON, the same over REST, websocket and SDK."""

from datetime import UTC

from realtime_runs.models import FAILED_STATUSES, FINAL_STATUSES, RunStatus


def isoformat(value):
    """ISO 8601 in UTC with ``Z`` (JavaScript's ``Date.toISOString()`` shape)."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def run_to_dict(run, skip_columns=()):
    status = run.status
    data = {
        "id": run.id,
        "taskIdentifier": run.task_identifier,
        "status": status,
        "payload": run.payload,
        "output": run.output,
        "metadata": run.metadata,
        "tags": list(run.tags),
        "error": run.error,
        "createdAt": isoformat(run.created_at),
        "updatedAt": isoformat(run.updated_at),
        "queuedAt": isoformat(run.queued_at),
        "startedAt": isoformat(run.started_at),
        "finishedAt": isoformat(run.finished_at),
        "delayedUntil": isoformat(run.delayed_until),
        "expiredAt": isoformat(run.expired_at),
        "ttl": run.ttl or None,
        "durationMs": run.duration_ms,
        "costInCents": run.cost_in_cents,
        "baseCostInCents": run.base_cost_in_cents,
        "idempotencyKey": run.idempotency_key or None,
        "isTest": run.is_test,
        "batchId": run.batch_id,
        "number": run.number,
        "attemptNumber": run.attempt_number,
        "streams": list(run.streams),
        "version": run.version,
        "isQueued": status in (RunStatus.QUEUED, RunStatus.DELAYED),
        "isExecuting": status in (RunStatus.DEQUEUED, RunStatus.EXECUTING),
        "isWaiting": status == RunStatus.WAITING,
        "isCompleted": status == RunStatus.COMPLETED or status in FAILED_STATUSES,
        "isSuccess": status == RunStatus.COMPLETED,
        "isFailed": status in FAILED_STATUSES,
        "isCancelled": status == RunStatus.CANCELED,
        "isFinished": status in FINAL_STATUSES,
    }
    for column in skip_columns:
        data.pop(column, None)
    return data


def wait_token_to_dict(token, base_url):
    """A wait token as the API shows it (Trigger.dev's waitpoint token shape)."""
    from realtime_runs.engine.waits import callback_path

    if token.completed_by_user_id:
        completed_by = {
            "type": "user",
            "id": token.completed_by_user_id,
            "name": token.completed_by_user.get_username(),
        }
    elif token.completed_by_key_id:
        completed_by = {
            "type": "apiKey",
            "id": token.completed_by_key_id,
            "name": token.completed_by_key.name,
        }
    elif token.completed_by_token:
        completed_by = {"type": "publicAccessToken", "id": token.completed_by_token}
    else:
        completed_by = None
    return {
        "id": token.id,
        "url": base_url.rstrip("/") + callback_path(token.id),
        "status": token.status,
        "tags": list(token.tags),
        "idempotencyKey": token.idempotency_key or None,
        "idempotencyKeyExpiresAt": isoformat(token.idempotency_key_expires_at),
        "timeoutAt": isoformat(token.timeout_at),
        "createdAt": isoformat(token.created_at),
        "completedAt": isoformat(token.completed_at),
        "output": token.output,
        "error": token.error,
        "outputIsError": token.error is not None,
        "completedBy": completed_by,
    }
