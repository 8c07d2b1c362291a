"""An experiment, not the site's configuration: the settings, with the channel layer adjusted.

Used by bench/fanout.py's diagnosis passes (``--variant``) to test what limits the fan-out:

- ``socket_timeout: None`` on the channel layer's Redis connections. redis-py 8 made 5 s the
  default, and channels-redis 4.3 blocks in BZPOPMIN for 5 s when idle, so an idle receive
  times out and the consumer holding the receive lock dies (its socket closes with 1011).
- BENCH_LAYER_CAPACITY: the layer's per-channel capacity (channels-redis default 100).
- BENCH_REVOCATION_CHECK_INTERVAL: how often each live subscription looks for revoked tokens.
"""

import os

from realtime_runs.settings import *  # noqa: F403
from realtime_runs.settings import CHANNEL_LAYERS, REALTIME_RUNS, REDIS_URL

if REDIS_URL:
    config = CHANNEL_LAYERS["default"]["CONFIG"]
    config["hosts"] = [{"address": REDIS_URL, "socket_timeout": None}]
    if os.environ.get("BENCH_LAYER_CAPACITY"):
        config["capacity"] = int(os.environ["BENCH_LAYER_CAPACITY"])

if os.environ.get("BENCH_REVOCATION_CHECK_INTERVAL"):
    REALTIME_RUNS["REVOCATION_CHECK_INTERVAL"] = float(
        os.environ["BENCH_REVOCATION_CHECK_INTERVAL"]
    )
