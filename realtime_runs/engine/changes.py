"""Every change of a run goes through here: conditional, versioned, announced on commit."""

from functools import partial

from django.db import transaction
from django.db.models import F
from django.dispatch import Signal
from django.utils import timezone

from realtime_runs.models import Run, sources_of

# Sent after the transaction that changed a run commits, once per change, with ``run_id`` and
# ``run``: the run as that change left it. The realtime layer listens to it; nothing is
# announced for a change that rolled back.
run_changed = Signal()


def announce(run: Run):
    """Announce ``run`` (as it is now, in this transaction) once the transaction commits."""
    transaction.on_commit(partial(run_changed.send, sender=Run, run_id=run.id, run=run))


def update_run(run_id, where=None, **fields) -> bool:
    """Set ``fields`` on the run if it still matches ``where``; bump its version; True if it did."""
    fields.setdefault("updated_at", timezone.now())
    with transaction.atomic():
        matched = Run.objects.filter(pk=run_id, **(where or {})).update(
            version=F("version") + 1, **fields
        )
        if matched:
            # Read inside the transaction, under the row lock the UPDATE took: this is exactly
            # the version this change made, so each version is published once, none skipped.
            announce(Run.objects.get(pk=run_id))
    return bool(matched)


def move_run(run_id, status, *, from_statuses=None, where=None, **fields) -> bool:
    """Move the run to ``status`` if the lifecycle allows it from where the run is now."""
    allowed = sources_of(status)
    if from_statuses is not None:
        # Narrow, never widen: no caller can move a run along an edge the lifecycle lacks.
        allowed = [source for source in from_statuses if source in allowed]
    return update_run(
        run_id, where={"status__in": allowed, **(where or {})}, status=status, **fields
    )
