"""Diagnosis: the same REST trigger in-process, through Django's sync handler and its ASGI one.

No server and no sockets: Django's test ``Client`` (the sync handler) and ``AsyncClient`` (the
ASGI handler Daphne uses) POST /api/v1/tasks/{id}/trigger, RUNS_EXECUTOR=celery with no worker.
The difference in CPU per request is the cost of running the sync middleware and view under
ASGI; it also counts the ``sync_to_async`` / ``async_to_sync`` hops per request.

    .venv/bin/python bench/asgi_overhead.py --requests 300
"""

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    common.configure("celery")
    import asgiref.sync
    from django.conf import settings
    from django.test import AsyncClient, Client

    from realtime_runs.models import ApiKey

    settings.ALLOWED_HOSTS.append("testserver")
    common.reset_runs()
    _, key = ApiKey.objects.create_key(name="bench-asgi-overhead")
    headers = {"Authorization": f"Bearer {key}"}
    url = f"/api/v1/tasks/{common.TASK_ID}/trigger"
    n = args.requests

    def record(mode, wall, cpu, **extra):
        common.emit(
            {
                "bench": "asgi_overhead",
                "mode": mode,
                "requests": n,
                "ms_per_request": round(wall * 1000 / n, 2),
                "cpu_ms_per_request": round(cpu * 1000 / n, 2),
                **extra,
            }
        )

    try:
        client = Client(headers=headers)
        for i in range(30):
            assert client.post(url, {"payload": {"n": -i}}, "application/json").status_code == 200
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(n):
            client.post(url, {"payload": {"n": i}}, "application/json")
        record("sync handler (test Client)", time.perf_counter() - wall, time.process_time() - cpu)

        hops = {"sync_to_async": 0, "async_to_sync": 0}
        s2a, a2s = asgiref.sync.SyncToAsync.__call__, asgiref.sync.AsyncToSync.__call__

        async def counting_s2a(self, *a, **k):
            hops["sync_to_async"] += 1
            return await s2a(self, *a, **k)

        def counting_a2s(self, *a, **k):
            hops["async_to_sync"] += 1
            return a2s(self, *a, **k)

        async def run_async():
            aclient = AsyncClient()  # headers per request: AsyncClient(headers=…) did not send them
            for i in range(30):
                response = await aclient.post(
                    url, {"payload": {"n": -i}}, "application/json", headers=headers
                )
                assert response.status_code == 200, response.content
            asgiref.sync.SyncToAsync.__call__ = counting_s2a
            asgiref.sync.AsyncToSync.__call__ = counting_a2s
            try:
                wall, cpu = time.perf_counter(), time.process_time()
                for i in range(n):
                    body = {"payload": {"n": i}}
                    await aclient.post(url, body, "application/json", headers=headers)
                return time.perf_counter() - wall, time.process_time() - cpu
            finally:
                asgiref.sync.SyncToAsync.__call__ = s2a
                asgiref.sync.AsyncToSync.__call__ = a2s

        wall, cpu = asyncio.run(run_async())
        record(
            "ASGI handler (AsyncClient)",
            wall,
            cpu,
            **{f"{name}_per_request": round(count / n, 1) for name, count in hops.items()},
        )
    finally:
        common.reset_runs()
        ApiKey.objects.filter(name="bench-asgi-overhead").delete()
        common.drop_queue(os.environ["CELERY_QUEUE"])


if __name__ == "__main__":
    main()
