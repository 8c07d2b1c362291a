"""Durations as Trigger.dev writes them (realtime_runs.durations)."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realtime_runs.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("30s", 30),
        ("15m", 900),
        ("1h", 3600),
        ("2d", 172800),
        ("1w", 604800),
        ("1.5h", 5400),
        ("0.5s", 0.5),
    ],
)
def test_each_unit(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1h30m", 5400),
        ("1m30s", 90),
        ("1w2d3h4m5s", 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5),
        ("1s500ms", 1.5),
        ("2h2h", 14400),  # repeated units add up
    ],
)
def test_combinations_add_up(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


def test_case_and_surrounding_spaces_do_not_matter():
    assert parse_duration("  1H30M ") == 5400


@pytest.mark.parametrize(("value", "seconds"), [(0, 0.0), (90, 90.0), (1.5, 1.5), ("90", 90.0)])
def test_numbers_are_seconds(value, seconds):
    result = parse_duration(value)
    assert result == seconds
    assert isinstance(result, float)


@pytest.mark.parametrize(
    "value",
    ["", "abc", "1x", "h", "1 h", "-1s", "1h-30m", "1h 30m", "1e3s", "s30", None, [], {}, True],
)
def test_bad_input_raises_value_error_with_a_message(value):
    with pytest.raises(ValueError, match="is not a duration|must be a duration"):
        parse_duration(value)


def test_negative_numbers_are_refused():
    with pytest.raises(ValueError, match="negative"):
        parse_duration(-5)


@pytest.mark.parametrize("value", [math.inf, math.nan])
def test_non_finite_numbers_are_refused(value):
    with pytest.raises(ValueError, match="finite"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (1, "1s"),
        (90, "90s"),
        (60, "1m"),
        (5400, "90m"),
        (3600, "1h"),
        (86400, "1d"),
        (604800, "1w"),
        (1209600, "2w"),
        (0.5, "0.5s"),
        (0, "0s"),
    ],
)
def test_format_picks_the_largest_exact_unit(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [1234567.5, 1e-7, 0.0001, 12345678.25])
def test_format_never_uses_scientific_notation(seconds):
    text = format_duration(seconds)
    assert "e" not in text
    assert parse_duration(text) == seconds


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False))
def test_format_then_parse_gives_the_same_seconds(seconds):
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, rel=1e-12)


@given(
    st.lists(
        st.tuples(st.integers(0, 1000), st.sampled_from(["ms", "s", "m", "h", "d", "w"])),
        min_size=1,
        max_size=5,
    )
)
def test_a_combination_is_the_sum_of_its_parts(parts):
    text = "".join(f"{n}{unit}" for n, unit in parts)
    expected = sum(parse_duration(f"{n}{unit}") for n, unit in parts)
    assert parse_duration(text) == pytest.approx(expected)
