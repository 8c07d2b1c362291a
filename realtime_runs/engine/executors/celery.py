"""The scaled-out executor: run ids go to Celery workers through the broker (Redis)."""

from realtime_runs.engine.executors import Executor


class CeleryExecutor(Executor):
    name = "celery"

    def submit(self, run_id, eta=None):
        from realtime_runs.celery import execute_run

        # The queue is Celery's CELERY_TASK_DEFAULT_QUEUE (settings: CELERY_QUEUE).
        execute_run.apply_async(args=[run_id], eta=eta)
