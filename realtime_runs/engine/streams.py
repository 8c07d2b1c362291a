"""Run streams (CONTRACT.md §4 rule 2): durable chunks with a per-stream ``seq`` from 1.

A task tees an iterable into a stream with ``metadata.stream(key, iterable)``. Chunks are
buffered and written in small batches (one INSERT per batch), then published after commit;
late or reconnecting readers catch up from the table.
"""

import time
from functools import partial

from django.db import transaction
from django.db.models import Max

from realtime_runs.conf import runs_settings
from realtime_runs.engine.changes import update_run
from realtime_runs.engine.jsonvalue import strict_json
from realtime_runs.errors import InvalidInput, TooLarge
from realtime_runs.models import Run, StreamChunk


class StreamWriter:
    """Buffers one stream's chunks; ``flush`` writes them with the next ``seq`` numbers."""

    def __init__(self, run_id, key, replayed=0):
        self.run_id = run_id
        self.key = key
        self.produced = 0  # chunks the task passed through this attempt
        self.replayed = replayed  # ...of which the first ones were stored before a wait
        self.buffer: list[tuple[object, str]] = []
        self.next_seq = None
        self.last_flush = time.monotonic()

    def add(self, chunk) -> bool:
        """Buffer a chunk; True when the buffer is due to be flushed."""
        self.produced += 1
        if self.produced <= self.replayed:
            return False  # stored before the run waited; replay passes it on, once
        text = strict_json(chunk, "chunk")
        if len(text.encode()) > runs_settings.MAX_STREAM_CHUNK_BYTES:
            raise TooLarge(
                f"A chunk of stream {self.key!r} is {len(text.encode())} bytes; the limit is "
                f"{runs_settings.MAX_STREAM_CHUNK_BYTES} bytes.",
                code="stream_chunk_too_large",
            )
        self.buffer.append((chunk, text))
        return (
            len(self.buffer) >= runs_settings.STREAM_BATCH_SIZE
            or time.monotonic() - self.last_flush >= runs_settings.STREAM_FLUSH_INTERVAL
        )

    def flush(self):
        self.last_flush = time.monotonic()
        if not self.buffer:
            return
        chunks, self.buffer = self.buffer, []
        with transaction.atomic():
            if self.next_seq is None:
                self.next_seq = self._open()
            first = self.next_seq
            StreamChunk.objects.bulk_create(
                StreamChunk(run_id=self.run_id, key=self.key, seq=first + i, data=chunk)
                for i, (chunk, _) in enumerate(chunks)
            )
            self.next_seq = first + len(chunks)
            from realtime_runs.realtime.publish import publish_stream_chunks

            transaction.on_commit(
                partial(
                    publish_stream_chunks,
                    self.run_id,
                    self.key,
                    [(first + i, text) for i, (_, text) in enumerate(chunks)],
                )
            )

    def _open(self):
        """Register the key on the run (once) and find where its ``seq`` goes on."""
        run = Run.objects.select_for_update().only("streams").get(pk=self.run_id)
        if self.key not in run.streams:
            if len(run.streams) >= runs_settings.MAX_STREAMS_PER_RUN:
                raise InvalidInput(
                    {
                        "key": f"a run has at most {runs_settings.MAX_STREAMS_PER_RUN} "
                        f"streams; it has {', '.join(run.streams)}"
                    }
                )
            update_run(self.run_id, streams=[*run.streams, self.key])
        last = StreamChunk.objects.filter(run_id=self.run_id, key=self.key).aggregate(Max("seq"))
        return (last["seq__max"] or 0) + 1


def validate_key(key):
    if (
        not isinstance(key, str)
        or not 0 < len(key) <= 64
        or not key.replace("-", "").replace("_", "").replace(".", "").isalnum()
    ):
        raise InvalidInput({"key": "a stream key is 1 to 64 letters, digits, '-', '_' or '.'"})


def chunks_since(run_id, since: dict | None, keys=None):
    """Stored chunks of a run after ``since`` (``{key: last seq seen}``), in order per key."""
    since = since or {}
    queryset = StreamChunk.objects.filter(run_id=run_id)
    if keys is not None:
        queryset = queryset.filter(key__in=keys)
    for chunk in queryset.order_by("key", "seq").iterator(chunk_size=500):
        if chunk.seq > since.get(chunk.key, 0):
            yield chunk
