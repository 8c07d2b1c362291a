"""Metadata operations of CONTRACT.md §1, as pure functions (realtime_runs.engine.metadata)."""

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realtime_runs.engine.metadata import apply_operations, parse_key
from realtime_runs.errors import InvalidInput, TooLarge

LIMIT = 256 * 1024


def apply(metadata, *operations, limit=LIMIT):
    return apply_operations(metadata, list(operations), limit)


def op(kind, key=None, value=None, **extra):
    operation = {"type": kind, **extra}
    if key is not None:
        operation["key"] = key
    if value is not None:
        operation["value"] = value
    return operation


# -- set and delete -----------------------------------------------------------------------


def test_set_adds_or_overwrites_a_key():
    assert apply({}, op("set", "progress", 50)) == {"progress": 50}
    assert apply({"progress": 50}, op("set", "progress", 75)) == {"progress": 75}


def test_set_stores_any_json_value():
    value = {"a": [1, 2, {"b": None}], "c": True}
    assert apply({}, op("set", "x", value)) == {"x": value}


def test_set_null_is_kept_as_null():
    assert apply({}, {"type": "set", "key": "x", "value": None}) == {"x": None}


def test_delete_removes_a_key_and_ignores_a_missing_one():
    assert apply({"a": 1, "b": 2}, op("delete", "a")) == {"b": 2}
    assert apply({"b": 2}, op("delete", "missing")) == {"b": 2}


def test_the_input_is_never_mutated():
    original = {"log": ["a"], "n": 1}
    snapshot = json.loads(json.dumps(original))
    apply(original, op("append", "log", "b"), op("increment", "n"), op("delete", "n"))
    assert original == snapshot


def test_a_stored_value_is_a_copy_of_the_operation_value():
    value = {"inner": [1]}
    result = apply({}, op("set", "x", value))
    value["inner"].append(2)
    assert result == {"x": {"inner": [1]}}


def test_operations_apply_in_order():
    result = apply({}, op("set", "x", 1), op("set", "x", 2), op("delete", "x"), op("set", "y", 3))
    assert result == {"y": 3}


# -- append and remove --------------------------------------------------------------------


def test_append_makes_a_list():
    assert apply({}, op("append", "log", "first")) == {"log": ["first"]}


def test_append_adds_to_a_list():
    assert apply({"log": ["a"]}, op("append", "log", "b")) == {"log": ["a", "b"]}


def test_append_wraps_a_scalar():
    assert apply({"log": "a"}, op("append", "log", "b")) == {"log": ["a", "b"]}
    assert apply({"n": 1}, op("append", "n", 2)) == {"n": [1, 2]}


def test_append_a_list_adds_it_as_one_item():
    assert apply({"log": [1]}, op("append", "log", [2, 3])) == {"log": [1, [2, 3]]}


def test_remove_drops_every_deep_equal_item():
    metadata = {"items": [{"id": 1, "tags": ["x"]}, {"id": 2}, {"id": 1, "tags": ["x"]}, 3]}
    result = apply(metadata, op("remove", "items", {"id": 1, "tags": ["x"]}))
    assert result == {"items": [{"id": 2}, 3]}


def test_remove_compares_deeply_not_by_part():
    metadata = {"items": [{"id": 1, "tags": ["x"]}, {"id": 1}]}
    assert apply(metadata, op("remove", "items", {"id": 1})) == {
        "items": [{"id": 1, "tags": ["x"]}]
    }


def test_remove_of_a_missing_value_or_key_changes_nothing():
    assert apply({"log": ["a"]}, op("remove", "log", "zzz")) == {"log": ["a"]}
    assert apply({"log": ["a"]}, op("remove", "other", "a")) == {"log": ["a"]}
    assert apply({"log": "a"}, op("remove", "log", "a")) == {"log": "a"}


# -- increment and decrement --------------------------------------------------------------


def test_increment_by_one_by_default():
    assert apply({}, {"type": "increment", "key": "n"}) == {"n": 1}
    assert apply({"n": 1}, {"type": "increment", "key": "n"}) == {"n": 2}


def test_increment_and_decrement_by_n():
    assert apply({"n": 10}, op("increment", "n", 5)) == {"n": 15}
    assert apply({"n": 10}, op("decrement", "n", 3)) == {"n": 7}
    assert apply({}, op("decrement", "n", 2)) == {"n": -2}
    assert apply({"n": 1}, op("increment", "n", 0.5)) == {"n": 1.5}


@pytest.mark.parametrize("not_a_number", ["5", None, [1], {"a": 1}, True, False])
def test_increment_treats_a_non_number_as_zero(not_a_number):
    assert apply({"n": not_a_number}, op("increment", "n", 3)) == {"n": 3}
    assert apply({"n": not_a_number}, op("decrement", "n", 3)) == {"n": -3}


# -- replace ------------------------------------------------------------------------------


def test_replace_swaps_the_whole_object():
    assert apply({"a": 1, "b": 2}, op("replace", value={"c": 3})) == {"c": 3}


def test_replace_with_an_empty_object_clears_everything():
    assert apply({"a": 1}, op("replace", value={})) == {}


def test_update_is_accepted_as_trigger_devs_name_for_replace():
    assert apply({"a": 1}, op("update", value={"b": 2})) == {"b": 2}


# -- JSON paths ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "parts"),
    [
        ("plain", ["plain"]),
        ("a.b", ["a.b"]),  # no "$." prefix: one plain key, dots and all
        ("$.a", ["a"]),
        ("$.a.b", ["a", "b"]),
        ("$.steps[0].done", ["steps", 0, "done"]),
        ("$.m[1][2]", ["m", 1, 2]),
    ],
)
def test_parse_key(key, parts):
    assert parse_key(key) == parts


@pytest.mark.parametrize("key", ["$.", "$..a", "$.a..b", "$.a[x]", "$.a[", "$.a[-1]", "$.a]"])
def test_bad_json_paths_are_invalid_input(key):
    with pytest.raises(InvalidInput) as caught:
        apply({}, op("set", key, 1))
    assert "key" in caught.value.details["fields"]


def test_set_at_a_path_creates_the_objects_on_the_way():
    assert apply({}, op("set", "$.a.b.c", 1)) == {"a": {"b": {"c": 1}}}


def test_set_at_a_path_keeps_siblings():
    assert apply({"a": {"x": 1}}, op("set", "$.a.y", 2)) == {"a": {"x": 1, "y": 2}}


def test_list_indexes_address_items():
    metadata = {"steps": [{"done": False}, {"done": False}]}
    assert apply(metadata, op("set", "$.steps[1].done", True)) == {
        "steps": [{"done": False}, {"done": True}]
    }


def test_a_list_index_one_past_the_end_appends():
    assert apply({"l": [1]}, op("set", "$.l[1]", 2)) == {"l": [1, 2]}
    assert apply({}, op("set", "$.l[0]", "x")) == {"l": ["x"]}


def test_a_list_index_far_past_the_end_changes_nothing():
    assert apply({"l": [1]}, op("set", "$.l[5]", 2)) == {"l": [1]}


def test_increment_and_append_at_paths():
    result = apply(
        {},
        op("increment", "$.stats.done"),
        op("increment", "$.stats.done", 2),
        op("append", "$.stats.log", "a"),
        op("append", "$.rows[0]", "x"),
    )
    assert result == {"stats": {"done": 3, "log": ["a"]}, "rows": [["x"]]}


def test_remove_and_delete_at_paths():
    metadata = {"a": {"log": ["x", "y", "x"], "keep": 1, "drop": 2}, "l": [10, 20, 30]}
    result = apply(
        metadata,
        op("remove", "$.a.log", "x"),
        op("delete", "$.a.drop"),
        op("delete", "$.l[1]"),
    )
    assert result == {"a": {"log": ["y"], "keep": 1}, "l": [10, 30]}


def test_delete_and_remove_do_not_create_missing_parents():
    assert apply({}, op("delete", "$.a.b")) == {}
    assert apply({}, op("remove", "$.a.b", 1)) == {}


def test_a_path_through_a_scalar_replaces_it_when_writing():
    assert apply({"a": 5}, op("set", "$.a.b", 1)) == {"a": {"b": 1}}


def test_a_list_index_into_an_object_changes_nothing():
    # An index applies to a list only: {"a": {...}}[0] must not create a key 0, which JSON
    # would store as "0" and so disagree with the local copy of the metadata.
    assert apply({"a": {"x": 1}}, op("set", "$.a[0]", 2)) == {"a": {"x": 1}}
    assert apply({"a": {"x": 1}}, op("set", "$.a[0].b", 2)) == {"a": {"x": 1}}


# -- bad operations -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "field"),
    [
        ("not an object", "operations"),
        ({"key": "x", "value": 1}, "type"),
        ({"type": "explode", "key": "x"}, "type"),
        ({"type": "set", "value": 1}, "key"),
        ({"type": "set", "key": "", "value": 1}, "key"),
        ({"type": "set", "key": 5, "value": 1}, "key"),
        ({"type": "set", "key": "x"}, "value"),
        ({"type": "append", "key": "x"}, "value"),
        ({"type": "remove", "key": "x"}, "value"),
        ({"type": "increment", "key": "x", "value": "1"}, "value"),
        ({"type": "decrement", "key": "x", "value": None}, "value"),
        ({"type": "increment", "key": "x", "value": True}, "value"),
        ({"type": "replace", "value": [1]}, "value"),
        ({"type": "replace"}, "value"),
        ({"type": "delete"}, "key"),
    ],
)
def test_bad_operations_raise_invalid_input(operation, field):
    with pytest.raises(InvalidInput) as caught:
        apply({"x": 1}, operation)
    assert field in caught.value.details["fields"]
    assert caught.value.status == 400


def test_one_bad_operation_rejects_the_whole_list():
    with pytest.raises(InvalidInput):
        apply({}, op("set", "a", 1), {"type": "nope"})


@pytest.mark.parametrize("value", [math.nan, math.inf, object(), {1, 2}])
def test_values_that_are_not_json_are_invalid_input(value):
    with pytest.raises(InvalidInput) as caught:
        apply({}, {"type": "set", "key": "x", "value": value})
    assert "metadata" in caught.value.details["fields"]


# -- the size limit -----------------------------------------------------------------------


def test_metadata_over_the_limit_is_too_large():
    with pytest.raises(TooLarge) as caught:
        apply({}, op("set", "blob", "x" * LIMIT))
    assert caught.value.status == 413
    assert caught.value.code == "metadata_too_large"


def test_the_limit_counts_compact_json_bytes():
    # {"k":"…"} is 8 bytes of JSON around the value; multi-byte characters count in bytes.
    exactly = "x" * (100 - 8)
    assert apply({}, op("set", "k", exactly), limit=100) == {"k": exactly}
    with pytest.raises(TooLarge):
        apply({}, op("set", "k", exactly + "x"), limit=100)
    with pytest.raises(TooLarge):
        apply({}, op("set", "k", "é" * 50), limit=100)


def test_the_limit_applies_to_the_result_not_the_way_there():
    result = apply({}, op("set", "big", "x" * 200), op("delete", "big"), limit=100)
    assert result == {}


# -- properties ---------------------------------------------------------------------------

# Text a database can store: no NUL, no unpaired surrogates (those are refused, tested above).
storable = st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00")
json_scalars = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(storable, max_size=5)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(storable, max_size=3), children, max_size=3)
    ),
    max_leaves=8,
)
numbers = st.integers(-(10**6), 10**6)


@given(start=numbers, n=st.integers(0, 10**6))
def test_increment_then_decrement_by_the_same_n_restores_a_number(start, n):
    metadata = {"n": start}
    assert apply(metadata, op("increment", "n", n), op("decrement", "n", n)) == metadata


@given(items=st.lists(json_values, max_size=6))
def test_append_then_remove_of_a_unique_value_restores_the_list(items):
    unique = {"unique-marker": len(items)}
    assert unique not in items
    metadata = {"log": items}
    assert apply(metadata, op("append", "log", unique), op("remove", "log", unique)) == metadata


@given(metadata=st.dictionaries(st.text(storable, min_size=1, max_size=5), json_values, max_size=5))
def test_set_then_delete_of_a_new_key_restores_the_object(metadata):
    key = "new-" + "-".join(sorted(metadata))
    assert apply(metadata, op("set", key, 1), op("delete", key)) == metadata


@given(value=json_values)
def test_replace_then_reading_gives_exactly_the_object(value):
    assert apply({"old": 1}, op("replace", value={"v": value})) == {"v": value}


@pytest.mark.parametrize("text", ["a\x00b", "\ud800"])
def test_text_a_database_cannot_store_is_refused(text):
    with pytest.raises(InvalidInput):
        apply({}, op("set", "k", text))
    with pytest.raises(InvalidInput):
        apply({}, op("set", text, 1))
