#!/usr/bin/env bash
# Run every benchmark against PostgreSQL + Redis on loopback and print a table (`make bench`).
#
#   bash bench/run.sh                 # everything, about 1.5 minutes
#   BENCH_QUICK=1 bash bench/run.sh   # smaller counts, a smoke test
#
# DATABASE_URL (default postgres://postgres@127.0.0.1:5432/bench) must be a database of its own:
# the benchmarks empty its run tables. REDIS_URL defaults to redis://127.0.0.1:6379/0; each
# benchmark uses a Celery queue of its own there and deletes it afterwards.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/bench}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
RESULTS=${BENCH_RESULTS:-/tmp/realtime-runs-bench-$$.jsonl}
LIMIT=${BENCH_TIMEOUT:-150}  # seconds, per benchmark

if [ "${BENCH_QUICK:-0}" = 1 ]; then
  SDK_ARGS="--runs 300 --batches 2"; REST_ARGS="--requests 300 --max-seconds 10"
  PICKUP_ARGS="--runs 50"
else
  SDK_ARGS="--runs 2000 --batches 8"; REST_ARGS="--requests 2000 --max-seconds 30"
  PICKUP_ARGS="--runs 300"
fi

if ! "$PY" - <<'EOF'
import os, sys
import psycopg, redis
url = os.environ["DATABASE_URL"]
try:
    psycopg.connect(url, connect_timeout=3).close()
except psycopg.OperationalError as exc:
    if "does not exist" not in str(exc):
        sys.exit(f"PostgreSQL is not answering at {url}: {exc}")
    from urllib.parse import urlsplit
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    print(f"created database {name}")
try:
    redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=3).ping()
except redis.RedisError as exc:
    sys.exit(f"Redis is not answering at {os.environ['REDIS_URL']}: {exc}")
EOF
then
  echo "bench: start the services first (make services)" >&2
  exit 1
fi
"$PY" manage.py migrate --noinput >/dev/null || exit 1

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
if rev=$(git rev-parse --short HEAD 2>/dev/null); then
  git status --porcelain -- realtime_runs | grep -q . && rev="$rev + uncommitted changes in realtime_runs/"
else
  rev=$(cat REVISION 2>/dev/null || echo unknown)  # an exported tree (git archive)
fi
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)   commit: $rev"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) before the run"
echo

: >"$RESULTS"
failed=0
run() {
  local name=$1; shift
  echo "== $name: $*"
  local started=$SECONDS
  timeout --kill-after=15 "$LIMIT" "$PY" "$@" | tee -a "$RESULTS"
  local status=${PIPESTATUS[0]}
  if [ "$status" != 0 ]; then
    echo "!! $name failed (exit $status)" >&2
    failed=1
  fi
  echo "   ($((SECONDS - started)) s)"
}

# shellcheck disable=SC2086
run "SDK trigger" bench/sdk_trigger.py $SDK_ARGS
# shellcheck disable=SC2086
run "REST trigger" bench/rest_trigger.py $REST_ARGS --concurrency 4
# shellcheck disable=SC2086
run "pickup, inline" bench/pickup_latency.py --executor inline $PICKUP_ARGS
# shellcheck disable=SC2086
run "pickup, celery" bench/pickup_latency.py --executor celery $PICKUP_ARGS

echo
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) after the run"
echo
"$PY" bench/report.py "$RESULTS"
echo
echo "results: $RESULTS"
exit $failed
