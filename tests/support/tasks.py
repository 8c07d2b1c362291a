"""Tasks for the tests (registered through REALTIME_RUNS["TASK_MODULES"] in tests.settings)."""

import asyncio
import os
import time

from realtime_runs import metadata, task, wait
from realtime_runs.sdk import AbortTaskRunError

FAST_RETRY = {"min_timeout": 0.05, "max_timeout": 0.2, "factor": 2, "randomize": False}


@task(id="test-echo")
def echo(payload, ctx):
    return payload


@task(id="test-context")
def context(payload, ctx):
    return {
        "runId": ctx.run_id,
        "taskId": ctx.task_id,
        "attempt": ctx.attempt,
        "tags": ctx.tags,
        "batchId": ctx.batch_id,
        "isTest": ctx.is_test,
    }


@task(id="test-ledger", max_attempts=3, retry=FAST_RETRY)
def ledger(payload, ctx):
    """Appends one line per attempt to ``payload["ledger"]``: what the tests count."""
    with open(payload["ledger"], "a") as out:
        out.write(f"{ctx.run_id} {ctx.attempt} {os.getpid()}\n")
    time.sleep(payload.get("sleep", 0))
    return {"attempt": ctx.attempt}


@task(id="test-flaky", max_attempts=4, retry=FAST_RETRY)
def flaky(payload, ctx):
    if ctx.attempt < payload["succeed_on"]:
        raise ValueError(f"attempt {ctx.attempt} fails")
    return {"attempt": ctx.attempt}


@task(id="test-abort", max_attempts=3, retry=FAST_RETRY)
def abort(payload, ctx):
    raise AbortTaskRunError("no point in trying again")


@task(id="test-sleep", max_attempts=1)
def sleep(payload, ctx):
    """Sleeps in small steps, so that stopping it does not wait for one long sleep."""
    end = time.monotonic() + payload.get("seconds", 60)
    while time.monotonic() < end:
        time.sleep(0.02)
    return {"slept": payload.get("seconds", 60)}


@task(id="test-sleep-retry", max_attempts=2, retry=FAST_RETRY)
def sleep_retry(payload, ctx):
    with open(payload["ledger"], "a") as out:
        out.write(f"{ctx.run_id} {ctx.attempt} {os.getpid()}\n")
    time.sleep(payload.get("seconds", 60) if ctx.attempt == 1 else 0)
    return {"attempt": ctx.attempt}


@task(id="test-async")
async def async_task(payload, ctx):
    metadata.set("stage", "started")
    await asyncio.sleep(payload.get("seconds", 0.05))
    metadata.set("stage", "done")
    return {"async": True, "attempt": ctx.attempt}


@task(id="test-metadata")
def metadata_task(payload, ctx):
    for _ in range(payload.get("count", 50)):
        metadata.increment("count")
        metadata.append("log", "tick")
    metadata.set("$.nested.value", 1)
    metadata.remove("log", "nothing")
    metadata.decrement("count", 10)
    metadata.flush()
    return metadata.current()


@task(id="test-big-output")
def big_output(payload, ctx):
    return "x" * (3 * 1024 * 1024 + 1)


@task(id="test-durable", max_attempts=1)
def durable(payload, ctx):
    """Does durable work before and after a wait; the ledger counts what really ran."""
    metadata.increment("counter")
    ctx.step("side-effect", lambda: _append(payload["ledger"], f"step {ctx.run_id}"))
    for _ in metadata.stream("words", iter(["a", "b"])):
        pass
    token = wait.create_token(timeout=payload.get("timeout", "1h"))
    metadata.set("token", token.id)
    _append(payload["ledger"], f"body {ctx.run_id}")  # outside any step: runs again
    result = wait.for_token(token)
    metadata.increment("counter")
    for _ in metadata.stream("words", iter(["c"])):
        pass
    return {"ok": result.ok, "output": result.output, "error": result.error}


@task(id="test-naps", max_attempts=1)
def naps(payload, ctx):
    """Waits several times for a duration; returns when each wait ended."""
    woke = []
    for index, seconds in enumerate(payload["naps"]):
        woke.append(ctx.step(f"before-{index}", time.time))
        wait.for_duration(seconds)
    woke.append(ctx.step("end", time.time))
    return {"times": woke}


def _append(path, line):
    with open(path, "a") as out:
        out.write(line + "\n")
    return line


@task(id="test-ends-elsewhere", max_attempts=1)
def ends_elsewhere(payload, ctx):
    """Its run is canceled by someone else just as it finishes (no interrupt reaches it)."""
    from realtime_runs.engine.changes import move_run

    metadata.set("wrote", True)
    time.sleep(0.05)
    move_run(ctx.run_id, "CANCELED")
    return {"ignored": True}


@task(id="test-nul-output", max_attempts=1)
def nul_output(payload, ctx):
    return {"text": "a\x00b"}
