"""Fan-out benchmark, DESIGN.md "Benchmarks" scenario 1: one run watched by 1,000 sockets.

Measures our Daphne server (realtime_runs.asgi, channels-redis) against R0 (bench/r0_server.py,
websockets relaying Redis pub/sub) in the same run, on loopback, with PostgreSQL and Redis.
This process is the load generator: all sockets in one asyncio loop. Run it via bench/fanout.sh.

    .venv/bin/python bench/fanout.py [--sockets 1000] [--passes 200@20,500@0] [--servers r0,ours]

A pass ``N@R`` makes N changes at R a second (0: as fast as the publisher manages). Per server
and pass it reports deliveries/s, publish-to-receive latency p50/p99 (the send time in each
frame vs the receive time, one machine clock), lost and duplicated versions per socket, memory
per socket (server RSS before/after connecting) and server CPU per 1,000 deliveries.
"""

import argparse
import asyncio
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import redis.asyncio as aioredis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/benchfan"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def child_env():
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    env.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    env["RUNS_EXECUTOR"] = "celery"  # no task runs inside Daphne or the publisher
    env["CELERY_QUEUE"] = f"benchfan-{os.getpid()}"  # and no other worker takes our run
    env["RUNS_LOG_LEVEL"] = env.get("RUNS_LOG_LEVEL", "WARNING")
    env["DJANGO_SETTINGS_MODULE"] = env.get("BENCH_DJANGO_SETTINGS", "realtime_runs.settings")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


# The servers: R0, and ours as shipped. (Diagnosis variants that patched ours at run time lived
# here until their findings were applied to the site's code; see docs/benchmarks.md.)
VARIANTS = {
    "r0": None,
    "ours": ({}, "realtime_runs.asgi:application"),
}


def pinned(cpu, argv):
    return ["taskset", "-c", cpu, *argv] if cpu is not None else argv


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- /proc ----------------------------------------------------------------------------------


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def run_delay_seconds(pid):
    """Time the process's threads spent runnable but waiting for a CPU (/proc schedstat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError):
            pass
    return total / 1e9


def status_kib(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def percentile(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# -- servers --------------------------------------------------------------------------------


class Server:
    def __init__(self, kind, argv, env, log_path):
        self.kind, self.argv, self.env, self.log_path = kind, argv, env, log_path

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

    @property
    def pid(self):  # taskset execs the server: same pid
        return self.process.pid

    def alive(self):
        return self.process.poll() is None

    def stop(self):
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.log.close()

    def log_text(self):
        return Path(self.log_path).read_text(errors="replace")


async def wait_port(port, server, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"{server.kind} server exited:\n{server.log_text()[-3000:]}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{server.kind} server not listening on {port} after {timeout}s")


# -- the load generator ---------------------------------------------------------------------


class Collector:
    """What every socket received, per pass: indexes, versions, latencies."""

    def __init__(self, sockets):
        self.sockets = sockets
        self.seen = defaultdict(lambda: defaultdict(list))  # pass → socket → [(i, version)]
        self.latency = defaultdict(list)  # pass → [seconds]
        self.first_sent = {}  # pass → earliest send time seen
        self.last_recv = {}
        self.count = Counter()
        self.expected = {}
        self.done = {}
        self.longest_gap = Counter()  # pass → the longest time without any delivery
        self.other = Counter()  # frames other than run frames after subscribing
        self.closed = 0

    def begin(self, pass_id, expected):
        self.expected[pass_id] = expected
        self.done[pass_id] = asyncio.Event()

    def record(self, pass_id, sock, i, version, sent, now):
        self.seen[pass_id][sock].append((i, version))
        self.latency[pass_id].append(now - sent)
        if sent < self.first_sent.get(pass_id, float("inf")):
            self.first_sent[pass_id] = sent
        last = self.last_recv.get(pass_id)
        if last is not None and now - last > self.longest_gap[pass_id]:
            self.longest_gap[pass_id] = now - last
        self.last_recv[pass_id] = now
        self.count[pass_id] += 1
        if self.count[pass_id] >= self.expected.get(pass_id, float("inf")):
            self.done[pass_id].set()


async def reader(ws, sock, col):
    loads = json.loads
    try:
        async for raw in ws:
            now = time.time()
            msg = loads(raw)
            if msg.get("type") != "run":
                col.other[msg.get("type")] += 1
                continue
            run = msg["run"]
            meta = run.get("metadata") or {}
            pass_id = meta.get("p", -1)
            if pass_id >= 0:
                col.record(pass_id, sock, meta["i"], run["version"], meta["t"], now)
    except ConnectionClosed:
        col.closed += 1


RETRIES = Counter()  # handshakes or subscribes the server refused or dropped, retried


async def open_socket(url, subscribe, snapshot, attempts=10):
    """Connect and subscribe, retrying as a real client would; return the socket once it is
    live (and, for ours, has its snapshot, so everything after is a live change)."""
    for attempt in range(attempts):
        ws = None
        try:
            ws = await connect(
                url, compression=None, open_timeout=60, ping_interval=None, max_size=2**20
            )
            if subscribe is not None:
                await ws.send(json.dumps(subscribe))
            want = {"subscribed", "run"} if snapshot else {"subscribed"}
            while want:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if msg.get("type") == "error":
                    raise RuntimeError(f"subscribe refused: {msg}")
                want.discard(msg.get("type"))
            return ws
        except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as exc:
            RETRIES[type(exc).__name__] += 1
            if ws is not None:
                await ws.close()
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))


async def open_all(url, subscribe, snapshot, count, concurrency=20):
    gate = asyncio.Semaphore(concurrency)

    async def one():
        async with gate:
            return await open_socket(url, subscribe, snapshot)

    return await asyncio.gather(*(one() for _ in range(count)))


async def inbox_keys(client, run_id):
    """The Redis keys of the channel-layer inboxes of the processes in the run's group: the
    members are ``specific.<process>!<socket>``; a process's sockets share one inbox key."""
    members = await client.zrange(f"asgi:group:rr.run.{run_id}", 0, -1)
    return sorted({"asgi" + m.decode().split("!")[0] + "!" for m in members})


async def sample_backlog(kind, redis_url, run_id, stop, out):
    """The deepest backlog seen in Redis while a pass runs: for ours the Daphne process's
    channel-layer inbox (a sorted set capped at ``capacity``), for R0 the pub/sub output buffer
    (bytes) that Redis holds for the R0 subscriber."""
    client = aioredis.from_url(redis_url)
    try:
        keys = await inbox_keys(client, run_id) if kind != "r0" else []
        while not stop.is_set():
            if kind != "r0":
                for key in keys:
                    out["max"] = max(out["max"], await client.zcard(key))
            else:
                for c in await client.client_list(_type="pubsub"):
                    out["max"] = max(out["max"], int(c.get("omem", 0)))
            try:
                await asyncio.wait_for(stop.wait(), 0.1)
            except TimeoutError:
                pass
    finally:
        await client.aclose()


async def run_pass(args, kind, server, col, pass_id, n, rate, publisher_argv, env):
    col.begin(pass_id, n * args.sockets)
    backlog = {"max": 0}
    stop = asyncio.Event()
    sampler = asyncio.create_task(
        sample_backlog(kind, env["REDIS_URL"], args.run_id, stop, backlog)
    )
    cpu0, ru0, t0 = cpu_seconds(server.pid), resource.getrusage(resource.RUSAGE_SELF), time.time()
    wait0 = run_delay_seconds(server.pid)
    pub = await asyncio.create_subprocess_exec(
        *pinned(args.publisher_cpu, publisher_argv),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    budget = (n / rate if rate > 0 else n / 50) + 60
    try:
        out, err = await asyncio.wait_for(pub.communicate(), budget)
    except TimeoutError:
        pub.kill()
        raise
    if pub.returncode != 0:
        raise RuntimeError(f"publisher failed:\n{err.decode()[-3000:]}")
    published = json.loads(out.decode().strip().splitlines()[-1])
    # Wait for the rest to arrive: until all expected deliveries came, or nothing came for
    # ``idle`` seconds (whatever is missing then is lost), or the deadline.
    deadline = time.time() + args.drain_timeout
    while not col.done[pass_id].is_set() and time.time() < deadline:
        last = col.last_recv.get(pass_id, time.time())
        if time.time() - last > args.idle:
            break
        try:
            await asyncio.wait_for(col.done[pass_id].wait(), 0.2)
        except TimeoutError:
            pass
    cpu1, ru1, t1 = cpu_seconds(server.pid), resource.getrusage(resource.RUSAGE_SELF), time.time()
    wait1 = run_delay_seconds(server.pid)
    stop.set()
    await sampler

    lost = dup = disorder = 0
    for sock in range(args.sockets):
        got = col.seen[pass_id].get(sock, [])
        indexes = [i for i, _ in got]
        versions = [v for _, v in got]
        lost += n - len(set(indexes))
        dup += len(versions) - len(set(versions))
        disorder += sum(1 for a, b in zip(versions, versions[1:], strict=False) if b <= a)
    delivered = col.count[pass_id]
    span = col.last_recv.get(pass_id, t1) - col.first_sent.get(pass_id, t0)
    lat = col.latency[pass_id]
    server_cpu = cpu1 - cpu0
    loadgen_cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    return {
        "server": kind,
        "pass": f"{n}@{rate:g}/s" if rate > 0 else f"{n}@max",
        "updates": n,
        "publisher_rate": round(published["handed_to_layer_rate"], 1),
        "publisher_commit_rate": round(published["commit_rate"], 1),
        "expected": n * args.sockets,
        "delivered": delivered,
        "deliveries_per_s": round(delivered / span, 1) if span > 0 else 0.0,
        "span_s": round(span, 3),
        "p50_ms": round(percentile(lat, 50) * 1000, 2),
        "p99_ms": round(percentile(lat, 99) * 1000, 2),
        "max_ms": round(max(lat) * 1000, 2) if lat else float("nan"),
        "lost": lost,
        "duplicated": dup,
        "out_of_order": disorder,
        "server_cpu_s": round(server_cpu, 2),
        "server_cpu_ms_per_1k": round(server_cpu / delivered * 1e6, 2) if delivered else None,
        "server_cpu_pct": round(100 * server_cpu / max(t1 - t0, 1e-9), 1),
        "loadgen_cpu_pct": round(100 * loadgen_cpu / max(t1 - t0, 1e-9), 1),
        # Runnable but not running: the time the server's threads (summed) waited for a CPU,
        # as a share of the wall time. High on a machine shared with other work.
        "server_cpu_wait_pct": round(100 * (wait1 - wait0) / max(t1 - t0, 1e-9), 1),
        "loadavg": round(os.getloadavg()[0], 2),
        "max_backlog": backlog["max"],
        "dropped_at_group_send": published.get("dropped_over_capacity"),
        "longest_gap_s": round(col.longest_gap[pass_id], 2),
    }


async def scenario(args, kind, setup, token, base_env, passes):
    env = dict(base_env)
    if kind != "r0":
        overrides, asgi_app = VARIANTS[kind]
        env.update(overrides)
        if "BENCH_DJANGO_SETTINGS" in overrides:
            env["DJANGO_SETTINGS_MODULE"] = overrides["BENCH_DJANGO_SETTINGS"]
    port = free_port()
    log_path = f"/tmp/benchfan-{kind}-{os.getpid()}.log"
    if kind == "r0":
        channel = f"benchfan.r0.{os.getpid()}"
        argv = [sys.executable, str(ROOT / "bench/r0_server.py"), str(port), channel]
        argv.append(env["REDIS_URL"])
        url, subscribe, snapshot = f"ws://127.0.0.1:{port}/", None, False
    else:
        daphne = str(BIN / "daphne")
        argv = [daphne, "-b", "127.0.0.1", "-p", str(port), asgi_app]
        url = f"ws://127.0.0.1:{port}/realtime/v1/ws"
        subscribe = {"type": "subscribe", "id": "s1", "token": token, "run": setup["run_id"]}
        snapshot = True
    server = Server(kind, pinned(args.server_cpu, argv), env, log_path).start()
    rows, extra = [], {}
    sockets = []
    try:
        await wait_port(port, server)
        # One socket first, so lazy imports and first connections are not counted per socket.
        warm = await open_socket(url, subscribe, snapshot)
        await warm.close()
        await asyncio.sleep(1.0)
        rss_before = status_kib(server.pid, "VmRSS")
        t = time.time()
        sockets = await open_all(url, subscribe, snapshot, args.sockets)
        extra["connect_s"] = round(time.time() - t, 2)
        extra["connect_retries"] = dict(RETRIES)
        RETRIES.clear()
        col = Collector(args.sockets)
        readers = [asyncio.create_task(reader(ws, k, col)) for k, ws in enumerate(sockets)]
        await asyncio.sleep(1.0)
        rss_after = status_kib(server.pid, "VmRSS")
        extra["rss_before_mib"] = round(rss_before / 1024, 1)
        extra["rss_after_mib"] = round(rss_after / 1024, 1)
        extra["kib_per_socket"] = round((rss_after - rss_before) / args.sockets, 1)
        # Idle cost of 1,000 open subscriptions (ours rechecks token revocation periodically).
        c0 = cpu_seconds(server.pid)
        await asyncio.sleep(args.idle_probe)
        extra["idle_cpu_pct"] = round(100 * (cpu_seconds(server.pid) - c0) / args.idle_probe, 1)
        for pass_id, (n, rate) in enumerate(passes):
            if kind == "r0":
                pub = [str(ROOT / "bench/fanout_publish.py"), "r0", channel]
                pub += [str(pass_id), str(n), str(rate), str(setup["frame_bytes"])]
            else:
                pub = [str(ROOT / "bench/fanout_publish.py"), "ours", setup["run_id"]]
                pub += [str(pass_id), str(n), str(rate)]
            row = await run_pass(
                args, kind, server, col, pass_id, n, rate, [sys.executable, *pub], env
            )
            row["kib_per_socket"] = extra["kib_per_socket"]
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
            await asyncio.sleep(1.0)
        extra["rss_peak_mib"] = round(status_kib(server.pid, "VmHWM") / 1024, 1)
        extra["unexpected_frames"] = dict(col.other)
        extra["closed_by_server"] = col.closed
        for task in readers:
            task.cancel()
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        server.stop()
    text = server.log_text()
    extra["over_capacity_log_lines"] = text.count("over capacity")
    extra["server_log_tail"] = text[-1500:] if args.verbose else ""
    return rows, extra


def parse_passes(spec):
    passes = []
    for item in spec.split(","):
        n, rate = item.split("@")
        passes.append((int(n), float(0 if rate in ("max", "0") else rate)))
    return passes


def prepare(env):
    py = sys.executable
    out = subprocess.run(
        [py, str(ROOT / "bench/fanout_publish.py"), "setup"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    setup = json.loads(out.strip().splitlines()[-1])
    token = subprocess.run(
        [py, "manage.py", "issue_token", "--scope", f"read:runs:{setup['run_id']}"]
        + ["--expires", "2h", "--label", "benchfan"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return setup, token


def table(rows, extras):
    head = (
        "| server | pass | publisher/s | deliveries/s | p50 ms | p99 ms | lost | dup "
        "| KiB/socket | CPU ms/1k | server CPU | server waited | loadgen CPU | load |"
    )
    lines = [head, "|" + "---|" * 14]
    for r in rows:
        lines.append(
            f"| {r['server']} | {r['pass']} | {r['publisher_rate']:g}"
            f" | {r['deliveries_per_s']:,.0f}"
            f" | {r['p50_ms']:g} | {r['p99_ms']:g} | {r['lost']} | {r['duplicated']}"
            f" | {r['kib_per_socket']:g} | {r['server_cpu_ms_per_1k']} | {r['server_cpu_pct']}%"
            f" | {r['server_cpu_wait_pct']}% | {r['loadgen_cpu_pct']}% | {r['loadavg']} |"
        )
    by = {(r["server"], r["pass"]): r for r in rows}
    ratios = []
    for (server, name), r in by.items():
        ref = by.get(("r0", name))
        if server != "r0" and ref and ref["deliveries_per_s"]:
            ratio = r["deliveries_per_s"] / ref["deliveries_per_s"]
            ratios.append(f"{server} {name}: {ratio:.2f}")
    lines.append("")
    lines.append("ours/R0 deliveries/s — " + ("; ".join(ratios) or "n/a"))
    for kind, extra in extras.items():
        shown = {k: v for k, v in extra.items() if k != "server_log_tail"}
        lines.append(f"{kind}: {json.dumps(shown)}")
        if extra.get("server_log_tail"):
            lines.append(extra["server_log_tail"])
    return "\n".join(lines)


async def main_async(args):
    env = child_env()
    passes = parse_passes(args.passes)
    rows, extras = [], {}
    for kind in args.servers.split(","):
        # A fresh run (and token) per server: a killed server leaves its sockets' channels in
        # the run's group, whose full inboxes would count in the next server's figures.
        setup, token = prepare(env)
        args.run_id = setup["run_id"]
        print(f"{kind}: run {setup['run_id']}, frame {setup['frame_bytes']} bytes", file=sys.stderr)
        extra = {"loadavg_before": os.getloadavg()[0]}
        got, more = await scenario(args, kind, setup, token, env, passes)
        extra.update(more)
        extra["loadavg_after"] = os.getloadavg()[0]
        rows += got
        extras[kind] = extra
    return rows, extras, setup


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--passes", default="200@20,500@max")
    parser.add_argument(
        "--servers",
        default="r0,ours",
        help=f"comma-separated, in order, from: {', '.join(VARIANTS)}",
    )
    parser.add_argument("--server-cpu", default="0", help="taskset CPU list for the server")
    parser.add_argument("--loadgen-cpu", default="1", help="CPU for this load generator")
    parser.add_argument("--publisher-cpu", default="1", help="taskset CPU list for publishers")
    parser.add_argument("--idle", type=float, default=15.0, help="a pass ends after this quiet")
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument("--idle-probe", type=float, default=5.0)
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    unknown = set(args.servers.split(",")) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown server(s): {', '.join(sorted(unknown))}")
    if (os.cpu_count() or 1) < 2:
        args.server_cpu = args.loadgen_cpu = args.publisher_cpu = None
    if args.loadgen_cpu is not None:
        os.sched_setaffinity(0, {int(c) for c in args.loadgen_cpu.split(",")})
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: servers are stopped
    rows, extras, setup = asyncio.run(main_async(args))
    print(table(rows, extras))
    if args.json:
        Path(args.json).write_text(
            json.dumps({"setup": setup, "rows": rows, "extras": extras}, indent=2)
        )
    bad = sum(r["lost"] + r["duplicated"] for r in rows)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
