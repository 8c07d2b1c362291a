"""Metadata operations (CONTRACT.md §1), as pure functions on a JSON object.

An operation is a dict: ``{"type": "set", "key": "progress", "value": 50}``. Types: set, delete,
append, remove, increment, decrement, replace (Trigger.dev's REST name ``update`` is accepted for
replace). Keys that start with ``$.`` are JSON paths (``$.steps[0].done``).
"""

import copy
import re

from realtime_runs.engine.jsonvalue import strict_json
from realtime_runs.errors import InvalidInput, TooLarge

OPERATION_TYPES = {
    "set",
    "delete",
    "append",
    "remove",
    "increment",
    "decrement",
    "replace",
    "update",
}
_PATH_PART = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")


def parse_key(key: str) -> list:
    """``"$.a.b[0]"`` → ``["a", "b", 0]``; a plain key is one part."""
    if not key.startswith("$."):
        return [key]
    rest, parts, pos = key[1:], [], 0
    for match in _PATH_PART.finditer(rest):
        if match.start() != pos:
            break
        parts.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        pos = match.end()
    if pos != len(rest) or not parts:
        raise InvalidInput({"key": f"{key!r} is not a JSON path like '$.a.b[0]'"})
    return parts


def _parent(root, parts, create):
    node = root
    for part, following in zip(parts, parts[1:], strict=False):
        if isinstance(node, dict) and isinstance(part, str):
            if part not in node or not isinstance(node[part], dict | list):
                if not create:
                    return None
                node[part] = [] if isinstance(following, int) else {}
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return None
    return node


# A list index ([0]) applies to lists only. On an object it would make an int key, which JSON
# stores as "0": the stored metadata and the task's local copy would then disagree.


def _get(node, part):
    if isinstance(node, dict) and isinstance(part, str):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and part < len(node):
        return node[part]
    return None


def _put(node, part, value):
    if isinstance(node, dict) and isinstance(part, str):
        node[part] = value
    elif isinstance(node, list) and isinstance(part, int):
        if part < len(node):
            node[part] = value
        elif part == len(node):
            node.append(value)


def _is_number(value):
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value):
    return value if _is_number(value) else 0


def validate_operation(op):
    if not isinstance(op, dict):
        raise InvalidInput({"operations": "each operation must be an object"})
    kind = op.get("type")
    if kind not in OPERATION_TYPES:
        raise InvalidInput(
            {"type": f"{kind!r} is not one of {', '.join(sorted(OPERATION_TYPES - {'update'}))}"}
        )
    if kind in ("replace", "update"):
        if not isinstance(op.get("value"), dict):
            raise InvalidInput({"value": f"{kind} takes an object as its value"})
        return
    if not isinstance(op.get("key"), str) or not op["key"]:
        raise InvalidInput({"key": f"{kind} needs a non-empty string key"})
    parse_key(op["key"])
    if kind in ("set", "append", "remove") and "value" not in op:
        raise InvalidInput({"value": f"{kind} needs a value"})
    if kind in ("increment", "decrement") and "value" in op and not _is_number(op["value"]):
        raise InvalidInput({"value": f"{kind} takes a number"})


def apply_operation(metadata: dict, op: dict) -> dict:
    """Apply one validated operation to ``metadata`` in place and return it."""
    kind = op["type"]
    if kind in ("replace", "update"):
        metadata.clear()
        metadata.update(copy.deepcopy(op["value"]))
        return metadata
    parts = parse_key(op["key"])
    parent = _parent(metadata, parts, create=kind != "delete" and kind != "remove")
    if parent is None:
        return metadata
    last = parts[-1]
    current = _get(parent, last)
    value = copy.deepcopy(op.get("value"))
    if kind == "set":
        _put(parent, last, value)
    elif kind == "delete":
        if isinstance(parent, dict) and isinstance(last, str):
            parent.pop(last, None)
        elif isinstance(parent, list) and isinstance(last, int) and last < len(parent):
            parent.pop(last)
    elif kind == "append":
        if current is None:
            _put(parent, last, [value])
        elif isinstance(current, list):
            current.append(value)
        else:
            _put(parent, last, [current, value])
    elif kind == "remove":
        if isinstance(current, list):
            _put(parent, last, [item for item in current if item != value])
    elif kind in ("increment", "decrement"):
        amount = op.get("value", 1)
        sign = 1 if kind == "increment" else -1
        _put(parent, last, _number(current) + sign * amount)
    return metadata


def apply_operations(metadata: dict, operations, limit: int) -> dict:
    """A new metadata object with ``operations`` applied; raises TooLarge past ``limit`` bytes."""
    result = copy.deepcopy(metadata or {})
    for op in operations:
        validate_operation(op)
        apply_operation(result, op)
    check_size(result, limit)
    return result


def check_size(metadata, limit):
    """Raise InvalidInput unless ``metadata`` is strict JSON, TooLarge past ``limit`` bytes."""
    size = len(strict_json(metadata, "metadata").encode())
    if size > limit:
        raise TooLarge(
            f"Metadata would be {size} bytes serialized; the limit is {limit} bytes.",
            code="metadata_too_large",
        )
