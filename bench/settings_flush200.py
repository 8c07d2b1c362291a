"""Settings for bench/stream_store.py: stream chunks batched every 200 ms instead of 50 ms."""

from realtime_runs.settings import *  # noqa: F403
from realtime_runs.settings import REALTIME_RUNS

REALTIME_RUNS = {**REALTIME_RUNS, "STREAM_FLUSH_INTERVAL": 0.2}
