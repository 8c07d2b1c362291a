"""Public ids: a prefix and 21 random lowercase letters and digits (``run_…``, ``batch_…``)."""

import secrets
import string

_ALPHABET = string.ascii_lowercase + string.digits


def make_id(prefix: str, length: int = 21) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def run_id() -> str:
    return make_id("run")


def batch_id() -> str:
    return make_id("batch")


def token_id() -> str:
    return make_id("tok", 24)


def signing_key_id() -> str:
    return make_id("key", 12)


def waitpoint_id() -> str:
    return make_id("waitpoint")
