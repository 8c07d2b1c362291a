"""Strict JSON, as every stored value must be: payloads, outputs, metadata, chunks, wait data."""

import json
import re

from realtime_runs.errors import InvalidInput

# An escaped NUL in JSON text, not preceded by an escaping backslash.
_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def strict_json(value, field) -> str:
    """``value`` as compact JSON text; InvalidInput unless it is JSON the database can store.

    NaN and Infinity are not JSON; PostgreSQL also refuses the NUL character and unpaired
    surrogates (text that is not Unicode), so they are refused here, on every database alike.
    """
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput({field: f"must be JSON-serializable ({exc})"}) from None
    try:
        text.encode()
    except UnicodeEncodeError:
        raise InvalidInput(
            {field: "must be valid Unicode (it has an unpaired surrogate)"}
        ) from None
    if _NUL.search(text):
        raise InvalidInput(
            {field: "must not contain the NUL character (\\u0000): the database cannot store it"}
        )
    return text


def without_nul(text: str) -> str:
    """Text for the database, with NUL characters written out (error messages, stack traces)."""
    return text.replace("\x00", "\\x00")
