"""The demo tasks of CONTRACT.md §7, used by the README's tour and by the tests.

Off with ``REALTIME_RUNS["DEMO_TASKS"] = False`` (env ``RUNS_DEMO_TASKS=0``).
"""

import time

from realtime_runs.registry import task
from realtime_runs.sdk import metadata, wait


def _number(payload, key, default, kind=float):
    value = (payload or {}).get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"payload.{key} must be a number")
    return kind(value)


@task(id="demo-progress")
def demo_progress(payload, ctx):
    """Sets metadata.progress from 0 to 100 in ``steps`` steps."""
    steps = max(1, _number(payload, "steps", 5, int))
    delay = max(0.0, _number(payload, "delay", 0.2))
    metadata.set("progress", 0)
    for step in range(1, steps + 1):
        time.sleep(delay)
        metadata.set("progress", round(step * 100 / steps))
    return {"steps": steps}


@task(id="demo-stream")
def demo_stream(payload, ctx):
    """Streams each word of ``payload.text`` into the stream ``tokens``, like an LLM would."""
    text = (payload or {}).get("text") or "The quick brown fox jumps over the lazy dog"
    if not isinstance(text, str):
        raise ValueError("payload.text must be a string")
    delay = max(0.0, _number(payload, "delay", 0.05))

    def words():
        for word in text.split():
            time.sleep(delay)
            yield word

    for _ in metadata.stream("tokens", words()):
        pass
    return {"text": text}


@task(id="demo-fail")
def demo_fail(payload, ctx):
    """Raises with ``payload.message``, so retries can be watched."""
    raise RuntimeError((payload or {}).get("message") or "demo-fail failed, as asked")


@task(id="demo-approval")
def demo_approval(payload, ctx):
    """Waits for a person to approve: completes with ``{"approved": …}`` or times out."""
    token = wait.create_token(timeout=(payload or {}).get("timeout", "1h"), tags=["approval"])
    metadata.set("waitTokenId", token.id)
    result = wait.for_token(token)
    if not result.ok:
        return {"approved": False, "timedOut": True}
    output = result.output if isinstance(result.output, dict) else {}
    return {"approved": bool(output.get("approved"))}
