"""The rules of the websocket protocol (CONTRACT.md §4), as plain functions and data.

The consumer only moves messages; what a subscribe message means, which runs a subscription
covers and what it has already seen are decided here, and tested without a socket.
"""

import time
from dataclasses import dataclass, field

from realtime_runs.durations import parse_duration
from realtime_runs.models import FINAL_STATUSES, RunStatus

MAX_MESSAGE_BYTES = 64 * 1024
DEFAULT_WINDOW = 24 * 3600
MAX_WINDOW = 30 * 24 * 3600
MAX_SUBSCRIPTIONS = 100
# Layer events a session may have waiting; past that it drops them and re-reads the tables.
MAX_PENDING_EVENTS = 1000
SNAPSHOT_LIMIT = 1000
SUBSCRIBE_FIELDS = {
    "type",
    "id",
    "token",
    "run",
    "tags",
    "batch",
    "streams",
    "since",
    "skipColumns",
    "createdAt",
    "status",
    "stopOnCompletion",
}
SKIPPABLE = {"payload", "output", "metadata", "error", "tags", "streams"}


class ProtocolError(Exception):
    """An ``error`` frame: ``code`` is one of CONTRACT.md §4's."""

    def __init__(self, code, message, sub_id=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.sub_id = sub_id


@dataclass
class Subscription:
    id: str
    kind: str  # "run", "tags" or "batch"
    target: object  # the run id, the list of tags, or the batch id
    token: object = None  # the Verified token, or None for a staff session
    streams: bool = False
    since_version: int = 0
    since_streams: dict = field(default_factory=dict)
    skip_columns: tuple = ()
    statuses: frozenset = frozenset()
    created_after: float = 0.0  # tag feeds: a timestamp
    stop_on_completion: bool = True
    versions: dict = field(default_factory=dict)  # run id → newest version sent
    seqs: dict = field(default_factory=dict)  # (run id, stream key) → newest seq sent

    def covers(self, event) -> bool:
        """Does a ``run.changed`` layer event belong to this subscription's runs?"""
        if self.kind == "run":
            return event["run_id"] == self.target
        if self.kind == "batch":
            return event.get("batch_id") == self.target
        tags = set(event["tags"])
        return (
            all(tag in tags for tag in self.target)
            and event["created_at"] >= self.created_after
            and (not self.statuses or event["status"] in self.statuses)
        )

    def is_new(self, run_id, version) -> bool:
        """True once per version, and only for versions newer than the newest sent."""
        if version <= self.versions.get(run_id, self.since_version if self.kind == "run" else 0):
            return False
        self.versions[run_id] = version
        return True

    def next_chunks(self, run_id, key, chunks):
        """The chunks ``[(seq, text)]`` not sent yet, and whether some before them are missing."""
        last = self.seqs.get((run_id, key), self.since_streams.get(key, 0))
        fresh = [(seq, text) for seq, text in chunks if seq > last]
        gap = bool(fresh) and fresh[0][0] != last + 1
        return fresh, gap

    def sent_chunk(self, run_id, key, seq):
        self.seqs[(run_id, key)] = max(seq, self.seqs.get((run_id, key), 0))

    def ends_with(self, status) -> bool:
        return self.kind == "run" and self.stop_on_completion and status in FINAL_STATUSES


def _string_list(value, name, sub_id):
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ProtocolError("invalid", f"{name} must be a non-empty list of strings", sub_id)
    return value


def parse_subscribe(message, now=None) -> Subscription:
    """A validated Subscription (its token not yet checked); raises ProtocolError."""
    now = now or time.time()
    sub_id = message.get("id")
    if not isinstance(sub_id, str) or not 0 < len(sub_id) <= 64:
        raise ProtocolError("invalid", "subscribe needs an id: a string of 1 to 64 characters")
    unknown = sorted(set(message) - SUBSCRIBE_FIELDS)
    if unknown:
        raise ProtocolError("invalid", f"unknown field(s): {', '.join(unknown)}", sub_id)
    targets = [name for name in ("run", "tags", "batch") if name in message]
    if len(targets) != 1:
        raise ProtocolError("invalid", "subscribe to exactly one of run, tags or batch", sub_id)
    kind = targets[0]
    target = message[kind]
    if kind == "tags":
        target = _string_list(target, "tags", sub_id)
        if len(target) > 10:
            raise ProtocolError("invalid", "at most 10 tags", sub_id)
    elif not isinstance(target, str) or not target:
        raise ProtocolError("invalid", f"{kind} must be an id", sub_id)
    token = message.get("token")
    if token is not None and not isinstance(token, str):
        raise ProtocolError("invalid", "token must be a string", sub_id)
    sub = Subscription(id=sub_id, kind="tags" if kind == "tags" else kind, target=target)
    sub.streams = message.get("streams", False)
    if not isinstance(sub.streams, bool):
        raise ProtocolError("invalid", "streams must be true or false", sub_id)
    since = message.get("since", {})
    if not isinstance(since, dict):
        raise ProtocolError("invalid", "since must be an object", sub_id)
    version = since.get("version", 0)
    seqs = since.get("streams", {})
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ProtocolError("invalid", "since.version must be a whole number", sub_id)
    if not isinstance(seqs, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in seqs.values()
    ):
        raise ProtocolError("invalid", "since.streams maps stream keys to seq numbers", sub_id)
    sub.since_version, sub.since_streams = version, dict(seqs)
    skip = message.get("skipColumns", [])
    if not isinstance(skip, list) or not set(skip) <= SKIPPABLE:
        raise ProtocolError(
            "invalid", f"skipColumns may list {', '.join(sorted(SKIPPABLE))}", sub_id
        )
    sub.skip_columns = tuple(skip)
    stop = message.get("stopOnCompletion", True)
    if not isinstance(stop, bool):
        raise ProtocolError("invalid", "stopOnCompletion must be true or false", sub_id)
    sub.stop_on_completion = stop
    if kind == "tags":
        statuses = message.get("status", [])
        statuses = [] if statuses in ([], None) else _string_list(statuses, "status", sub_id)
        bad = [s for s in statuses if s not in RunStatus.values]
        if bad:
            raise ProtocolError("invalid", f"unknown status {bad[0]!r}", sub_id)
        sub.statuses = frozenset(statuses)
        window = message.get("createdAt", DEFAULT_WINDOW)
        try:
            seconds = parse_duration(window)
        except ValueError as exc:
            raise ProtocolError("invalid", f"createdAt: {exc}", sub_id) from None
        if not 0 < seconds <= MAX_WINDOW:
            raise ProtocolError("invalid", "createdAt is a window of up to 30 days", sub_id)
        sub.created_after = now - seconds
    elif "status" in message or "createdAt" in message:
        raise ProtocolError("invalid", "status and createdAt filter tag feeds only", sub_id)
    return sub


def run_frame(sub_id, event_json, run_dict=None, skip_columns=()):
    """The ``run`` frame's text, pasting in the run JSON that was serialized once upstream."""
    from realtime_runs.realtime.publish import dumps

    if skip_columns:
        data = dict(run_dict)
        for column in skip_columns:
            data.pop(column, None)
        event_json = dumps(data)
    return f'{{"type":"run","id":{dumps(sub_id)},"run":{event_json}}}'


def stream_frame(sub_id, run_id, key, seq, chunk_json):
    from realtime_runs.realtime.publish import dumps

    return (
        f'{{"type":"stream","id":{dumps(sub_id)},"runId":{dumps(run_id)},'
        f'"stream":{dumps(key)},"seq":{seq},"chunk":{chunk_json}}}'
    )


class FloodGate:
    """A token bucket per socket: ``rate`` messages a second, bursts up to ``burst``."""

    def __init__(self, rate=20.0, burst=60, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = float(burst)
        self.stamp = clock()

    def allow(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False
