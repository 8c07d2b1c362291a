"""Where runs execute. One small interface, two backends: ``inline`` threads and ``celery``.

An executor only carries run ids to a worker; the database decides who may run what (a claim
is a conditional update), so a lost or duplicated hand-off never loses or repeats an attempt.
"""

import threading
from functools import partial

from django.db import transaction
from django.utils.module_loading import import_string

from realtime_runs.conf import runs_settings

BACKENDS = {
    "inline": "realtime_runs.engine.executors.inline.InlineExecutor",
    "celery": "realtime_runs.engine.executors.celery.CeleryExecutor",
}

_lock = threading.Lock()
_executors: dict[str, object] = {}


class Executor:
    """The interface: ``submit`` a run id (now, or at ``eta``) to some worker."""

    name = ""

    def submit(self, run_id, eta=None):
        raise NotImplementedError

    def start(self):
        """Begin executing in this process, where the backend does that (inline)."""

    def stop(self, timeout=10.0):
        """Stop what ``start`` began."""


def get_executor() -> Executor:
    name = runs_settings.EXECUTOR
    with _lock:
        if name not in _executors:
            if name not in BACKENDS:
                raise ValueError(f"REALTIME_RUNS['EXECUTOR'] must be one of {sorted(BACKENDS)}")
            _executors[name] = import_string(BACKENDS[name])()
        return _executors[name]


def hand_off(run_id, eta=None):
    """Give the run to the executor once the current transaction commits."""
    transaction.on_commit(partial(_submit, run_id, eta))


def _submit(run_id, eta):
    get_executor().submit(run_id, eta)
