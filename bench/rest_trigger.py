"""REST trigger throughput: POST /api/v1/tasks/{id}/trigger against a real Daphne server.

Daphne runs with RUNS_EXECUTOR=celery and no Celery worker, so nothing executes: each request
creates a run and publishes its id to Redis (a queue of this benchmark's own, deleted at the
end). The server and this load generator are pinned to different cores with taskset.

    .venv/bin/python bench/rest_trigger.py --requests 2000 --concurrency 4
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402

KEY_NAME = "bench-rest-trigger"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_cpu(pid):
    """User + system CPU seconds of process ``pid`` (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pg_sessions():
    """Sessions ever opened on this database (PostgreSQL 14+ statistics)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def create_api_keys(env, count):
    """``count`` secret keys from ``manage.py create_api_key`` (run side by side)."""
    argv = [sys.executable, "manage.py", "create_api_key", "--name", KEY_NAME]
    procs = [
        subprocess.Popen(argv, cwd=common.ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(count)
    ]
    keys = []
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"create_api_key failed with exit status {proc.returncode}")
        keys.append(out.strip().splitlines()[-1])
    return keys


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--max-seconds", type=float, default=30, help="stop early after this")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads/connections")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--server-cpu", default="0", help="taskset -c for Daphne")
    parser.add_argument("--client-cpu", default="1", help="taskset -c for this process")
    parser.add_argument("--py-spy", metavar="PATH", help="profile Daphne with this py-spy binary")
    args = parser.parse_args()

    if args.client_cpu and os.cpu_count() > 1:
        os.sched_setaffinity(0, {int(c) for c in args.client_cpu.split(",")})
    common.configure("celery")
    import httpx

    from realtime_runs.models import ApiKey, Run

    common.reset_runs()
    env = common.bench_env("celery", queue=os.environ["CELERY_QUEUE"])
    # One key per connection, as from separate clients: the per-key rate limit and its history
    # (SimpleRateThrottle's list in the cache) then grow as they would for one client each.
    keys = create_api_keys(env, args.concurrency)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/api/v1/tasks/{common.TASK_ID}/trigger"
    headers = {"Authorization": f"Bearer {keys[0]}"}
    server_cpu = args.server_cpu if os.cpu_count() > 1 else None
    daphne = common.Subprocess(
        "daphne",
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "realtime_runs.asgi:application",
        ],
        env=env,
        cpus=server_cpu,
    )
    with daphne:

        def answering():
            daphne.check_alive()
            try:
                return httpx.get(f"{base}/api/v1/runs", headers=headers, timeout=1).status_code
            except httpx.TransportError:
                return None

        status = common.wait_until(answering, timeout=30, interval=0.1, what="daphne answering")
        assert status == 200, f"GET /api/v1/runs answered {status}"

        with httpx.Client(headers=headers, timeout=10) as client:
            for i in range(args.warmup):
                client.post(url, json={"payload": {"n": -i}}).raise_for_status()
        profile = None
        if args.py_spy:
            profile_path = Path(f"/tmp/bench-daphne-{os.getpid()}.txt")
            profile = common.Subprocess(
                "py-spy",
                [args.py_spy, "record", "--pid", str(daphne.process.pid), "--gil", "--nonblocking"]
                + ["--threads", "--format", "raw", "--rate", "250", "-o", str(profile_path)],
                env=dict(os.environ),
            ).start()
            common.wait_until(
                lambda: "Sampling process" in profile.log_text(), 10, what="py-spy started"
            )

        latencies = [[] for _ in range(args.concurrency)]
        errors = []
        counter = iter(range(args.requests))
        counter_lock = threading.Lock()
        barrier = threading.Barrier(args.concurrency + 1)

        def worker(index):
            own = {"Authorization": f"Bearer {keys[index]}"}
            with httpx.Client(headers=own, timeout=10) as client:
                client.get(f"{base}/api/v1/runs?page[size]=1")  # open the connection
                barrier.wait()
                deadline = time.perf_counter() + args.max_seconds
                while time.perf_counter() < deadline:
                    with counter_lock:
                        n = next(counter, None)
                    if n is None:
                        return
                    t0 = time.perf_counter()
                    response = client.post(url, json={"payload": {"n": n}})
                    latencies[index].append(time.perf_counter() - t0)
                    if response.status_code != 200:
                        errors.append(response.status_code)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.concurrency)]
        for thread in threads:
            thread.start()
        barrier.wait()
        started = time.perf_counter()
        cpu_before = os.times()
        server_before = process_cpu(daphne.process.pid)
        sessions_before = pg_sessions()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        client_cpu = sum(os.times()[:2]) - sum(cpu_before[:2])
        server_cpu_s = process_cpu(daphne.process.pid) - server_before
        new_sessions = pg_sessions() - sessions_before
        if profile:
            profile.stop(sig=signal.SIGINT)
            common.wait_until(profile_path.exists, 10, what="py-spy output")
            print(common.summarize_collapsed(profile_path), file=sys.stderr)
        daphne.check_alive()

    created = Run.objects.filter(task_identifier=common.TASK_ID).count()
    common.reset_runs()
    ApiKey.objects.filter(name=KEY_NAME).delete()
    common.drop_queue(os.environ["CELERY_QUEUE"])
    assert not errors, f"{len(errors)} failed requests, e.g. {errors[:5]}"
    done = sum(len(per) for per in latencies)
    assert created == args.warmup + done, f"{created} runs created for {done} requests"
    all_latencies = [s for per in latencies for s in per]
    common.emit(
        {
            "bench": "rest_trigger",
            "mode": f"{args.concurrency} connections, {os.environ['DJANGO_SETTINGS_MODULE']}",
            "runs": done,
            "seconds": round(elapsed, 3),
            "runs_per_s": round(done / elapsed, 1),
            "server_cpu_ms_per_request": round(server_cpu_s * 1000 / done, 2),
            "client_cpu_ms_per_request": round(client_cpu * 1000 / done, 2),
            # New PostgreSQL sessions (connections) opened per request, by anyone on this DB.
            "pg_sessions_per_request": round(new_sessions / done, 2),
            "server_cpu": server_cpu,
            "client_cpu": args.client_cpu,
            **{f"request_{k}": v for k, v in common.summary_ms(all_latencies).items()},
        }
    )


if __name__ == "__main__":
    main()
