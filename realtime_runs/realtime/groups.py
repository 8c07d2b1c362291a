"""Channel-layer group names. Groups allow only ``[a-zA-Z0-9._-]`` and < 100 characters, so
tags, which may hold anything, are hashed."""

import hashlib


def _hashed(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:40]


def run_group(run_id):
    return f"rr.run.{run_id}"


def tag_group(tag):
    return f"rr.tag.{_hashed(tag)}"


def batch_group(batch_id):
    return f"rr.batch.{batch_id}"


def token_group(jti):
    return f"rr.token.{jti}"


def groups_of_run(run_id, tags, batch_id):
    # No feed follows a whole task (the protocol has run, tag and batch feeds), so nothing is
    # sent to task groups: a message nobody receives still costs a Redis round trip per change.
    groups = [run_group(run_id), *(tag_group(tag) for tag in tags)]
    if batch_id:
        groups.append(batch_group(batch_id))
    return groups
