"""Durations as Trigger.dev writes them: "30s", "15m", "1h", "2d", "1w", "1h30m", or seconds."""

import math
import re
from decimal import Decimal

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+")


def parse_duration(value) -> float:
    """Seconds in ``value``; raises ValueError with a readable message when it is not a duration."""
    if isinstance(value, bool):
        raise ValueError("must be a duration like '30s', '15m', '1h', '2d', '1w' or seconds")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError("must be a finite number of seconds")
        if value < 0:
            raise ValueError("must not be negative")
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            return float(text)
        if _WHOLE.fullmatch(text):
            return sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(text))
    raise ValueError(
        f"{value!r} is not a duration: use '30s', '15m', '1h', '2d', '1w' (combinable, "
        "as in '1h30m') or a number of seconds"
    )


def format_duration(seconds: float) -> str:
    """The shortest exact unit string for ``seconds`` ("90s" stays "90s", 3600 is "1h")."""
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    # Not "{:g}": it rounds to 6 digits and writes 1e-07, which parse_duration cannot read back.
    return f"{Decimal(repr(float(seconds))).normalize():f}s"
