"""Shared set-up for the benchmark scripts: environment, Django, statistics, subprocesses.

Import this module before anything from Django: ``configure(executor)`` sets the environment
the settings read (PostgreSQL + Redis on loopback, the bench tasks, a private Celery queue) and
calls ``django.setup()``.
"""

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
TASK_ID = "bench-noop"


def bench_env(executor, queue=None):
    """The environment of the benchmark process and of the servers and workers it starts."""
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    env.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    # BENCH_DJANGO_SETTINGS: another settings module, for an experiment (bench/settings_pool.py).
    env["DJANGO_SETTINGS_MODULE"] = env.get("BENCH_DJANGO_SETTINGS", "realtime_runs.settings")
    env["RUNS_EXECUTOR"] = executor
    env["RUNS_TASK_MODULES"] = "bench.tasks"
    env["RUNS_LOG_LEVEL"] = env.get("RUNS_LOG_LEVEL", "WARNING")
    # The per-key API rate limit (1200/min by default) caps one key at 20 requests/s; the REST
    # benchmark uses a key per connection and lifts the cap so that a faster server is not
    # cut off (below 20/s per key the throttle's cost is the same as with the default).
    env.setdefault("RUNS_API_RATE", "1000000/min")
    # A queue of our own: no other Celery worker on this Redis (a test session) takes our runs.
    env["CELERY_QUEUE"] = queue or f"bench-{os.getpid()}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def configure(executor):
    """Set this process's environment and start Django."""
    # A SIGTERM (run.sh's timeout) unwinds like Ctrl-C, so ``with Subprocess(...)`` cleans up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.environ.update(bench_env(executor))
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def reset_runs():
    """Empty the run tables, so every benchmark starts from the same state.

    Only on a database whose name starts with "bench": never on someone's real data.
    """
    from django.db import connection

    from realtime_runs import models

    name = connection.settings_dict["NAME"]
    if connection.vendor != "postgresql" or not str(name).startswith("bench"):
        print(f"note: not resetting the run tables of database {name!r}", file=sys.stderr)
        return
    # AccessToken: the REST trigger mints a public access token per run (where it exists).
    names = ("Run", "Batch", "TaskCounter", "AccessToken")
    tables = ", ".join(getattr(models, n)._meta.db_table for n in names if hasattr(models, n))
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables} CASCADE")  # and what refers to runs (tags, chunks)


def drop_queue(queue):
    """Delete what Celery left in Redis for ``queue`` (runs nobody consumed, its binding)."""
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    keys = [queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"]
    keys += [k for k in client.scan_iter(match=f"{queue}\x06*")]  # priority sub-queues
    client.delete(*keys)
    client.close()


def drain_publisher(timeout=60.0):
    """Wait until the realtime publisher (if this version has one) sent all it queued.

    Changes are published after commit from a background thread; a throughput figure must
    include that work, not leave it queued when the clock stops.
    """
    try:
        from realtime_runs.realtime.publish import publisher
    except ImportError:
        return True
    return publisher.wait_idle(timeout)


def percentile(values, p):
    """The p-th percentile (0-100) by linear interpolation."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(seconds):
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p90_ms": round(percentile(ms, 90), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(max(ms), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


def emit(result):
    """Print one result as a JSON line prefixed ``RESULT`` (bench/report.py collects them)."""
    print("RESULT " + json.dumps(result), flush=True)


def machine():
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model}


def wait_until(predicate, timeout, interval=0.05, what="condition"):
    """Poll ``predicate`` until it is true, at most ``timeout`` seconds (a bounded loop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout}s")


class Subprocess:
    """A child in its own process group, killed with its children on ``stop`` (or on exit)."""

    def __init__(self, name, argv, env, cpus=None, log_dir="/tmp"):
        if cpus is not None:
            argv = ["taskset", "-c", cpus, *argv]
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = Path(log_dir) / f"bench-{name}-{os.getpid()}.log"
        self.process = None

    def start(self):
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def log_text(self):
        return self.log_path.read_text(errors="replace")

    def check_alive(self):
        if not self.alive():
            raise RuntimeError(f"{self.name} exited:\n{self.log_text()[-3000:]}")

    def stop(self, timeout=10, sig=signal.SIGTERM):
        if self.alive():
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout)
        if self.process is not None:
            self.log.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def summarize_collapsed(path, top=25):
    """Top functions of a py-spy ``--format raw`` (collapsed stacks) profile, as text."""
    total = 0
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n
    lines = [f"{total} samples"]
    for title, table in (("self", own), ("inclusive", inclusive)):
        lines.append(f"-- top {top} by {title} samples --")
        for frame, n in sorted(table.items(), key=lambda kv: -kv[1])[:top]:
            lines.append(f"{100 * n / max(total, 1):5.1f}%  {frame}")
    return "\n".join(lines)
