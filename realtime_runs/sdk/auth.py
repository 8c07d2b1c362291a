"""Issuing public access tokens from Python (CONTRACT.md §2, §5)."""

from realtime_runs import tokens
from realtime_runs.engine.execution import outside_event_loop


def create_public_token(scopes, expiration_time=None, one_time_use=False, **issuer) -> str:
    """A JWT for browsers: ``scopes={"read": {"runs": [...], "tags": [...]}}``, 15 minutes."""
    return outside_event_loop(
        tokens.create_token,
        scopes,
        expiration_time=expiration_time,
        one_time=one_time_use,
        **issuer,
    )


def create_trigger_public_token(task_ids, expiration_time=None, multiple_use=False) -> str:
    """A token that may trigger the task(s) ``task_ids``: one use unless ``multiple_use``."""
    ids = [task_ids] if isinstance(task_ids, str) else list(task_ids)
    return create_public_token(
        [f"trigger:tasks:{task_id}" for task_id in ids],
        expiration_time=expiration_time,
        one_time_use=not multiple_use,
    )


def create_batch_trigger_public_token(task_ids, expiration_time=None, multiple_use=False) -> str:
    """A token that may batch-trigger the task(s) ``task_ids``."""
    ids = [task_ids] if isinstance(task_ids, str) else list(task_ids)
    return create_public_token(
        [f"batchTrigger:tasks:{task_id}" for task_id in ids],
        expiration_time=expiration_time,
        one_time_use=not multiple_use,
    )


def revoke(jti):
    """Refuse the token with this ``jti`` from now on."""
    from realtime_runs.models import AccessToken

    for record in AccessToken.objects.filter(jti=jti):
        outside_event_loop(record.revoke)
