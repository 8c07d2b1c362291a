"""The Celery app: ``celery -A realtime_runs worker`` executes runs on any machine.

Each worker's main process also runs the sweep in a thread; sweeps are conditional updates,
so running one per worker is safe.
"""

import logging
import os
import threading

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "realtime_runs.settings")

app = Celery("realtime_runs")
app.config_from_object("django.conf:settings", namespace="CELERY")

log = logging.getLogger(__name__)


@app.task(name="realtime_runs.execute_run", ignore_result=True)
def execute_run(run_id):
    from django.db import close_old_connections

    from realtime_runs.engine.execution import get_worker

    close_old_connections()
    return get_worker().execute(run_id)


@signals.worker_ready.connect
def start_sweeper(**kwargs):
    threading.Thread(target=_sweep_forever, name="realtime-runs-sweeper", daemon=True).start()


def _sweep_forever():
    import time

    from django.db import close_old_connections

    from realtime_runs.conf import runs_settings
    from realtime_runs.engine.sweep import sweep

    while True:
        close_old_connections()
        try:
            sweep()
        except Exception:
            log.exception("sweep failed")
        time.sleep(runs_settings.SWEEP_INTERVAL)
