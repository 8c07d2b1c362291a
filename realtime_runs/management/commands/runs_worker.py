import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from realtime_runs.engine.executors import get_executor


class Command(BaseCommand):
    help = (
        "Execute runs with in-process worker threads, without a web server (the inline "
        "executor). For many machines, use Celery: celery -A realtime_runs worker."
    )

    def handle(self, *args, **options):
        executor = get_executor()
        if executor.name != "inline":
            raise CommandError(
                f"The executor is {executor.name!r}; start Celery workers instead "
                "(celery -A realtime_runs worker), or set RUNS_EXECUTOR=inline."
            )
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        executor.start()
        self.stderr.write("Executing runs; Ctrl-C to stop.")
        stop.wait()
        executor.stop()
