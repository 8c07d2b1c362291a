#!/usr/bin/env bash
# Realtime fan-out benchmark (DESIGN.md "Benchmarks", scenario 1: one run, 1,000 sockets),
# ours (Daphne + channels-redis) against R0 (websockets + Redis pub/sub) in the same run.
# Loopback only; PostgreSQL and Redis on 127.0.0.1; everything stops by itself.
#
#   bash bench/fanout.sh                 the comparison (docs/benchmarks.md, "Realtime fan-out")
#   bash bench/fanout.sh --sockets 200   extra arguments go to bench/fanout.py
#
# Exits non-zero if any socket lost or got a duplicated version.
set -uo pipefail
cd "$(dirname "$0")/.."

export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/benchfan}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
export RUNS_EXECUTOR=celery
PY=.venv/bin/python
OUT=${BENCH_OUT:-var/bench}
mkdir -p "$OUT"

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
$PY -c "import redis, os; redis.Redis.from_url(os.environ['REDIS_URL']).ping()" || {
    echo "Redis is not answering at $REDIS_URL" >&2
    exit 2
}
db=${DATABASE_URL##*/}
createdb -h 127.0.0.1 -U postgres "$db" 2>/dev/null || true  # exists already: fine
$PY manage.py migrate -v0 || exit 2

status=0
echo "== fan-out: R0 vs ours ($(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg))"
timeout -k 10 1500 $PY bench/fanout.py --servers r0,ours --passes 200@20,200@max --idle 20 \
    --json "$OUT/fanout.json" "$@" || status=$?

exit $status
