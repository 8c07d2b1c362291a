"""Validation of trigger options, shared by the SDK and the REST API.

A DRF serializer does the field-by-field work, so the REST API gets OpenAPI docs and field
errors from the same definition the SDK uses.
"""

import math
from datetime import UTC, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from realtime_runs.conf import runs_settings
from realtime_runs.durations import format_duration, parse_duration
from realtime_runs.engine.jsonvalue import strict_json
from realtime_runs.engine.metadata import check_size
from realtime_runs.errors import InvalidInput, TooLarge

# The longest duration accepted (10 years). Far past any sensible delay or TTL, and well inside
# what a datetime holds: without a bound, "99999999999w" or 1e400 overflowed when added to now.
MAX_DURATION_SECONDS = 3650 * 24 * 3600


def parse_bounded_duration(value) -> float:
    """``parse_duration``, refusing infinite durations and those past MAX_DURATION_SECONDS."""
    seconds = parse_duration(value)
    if not math.isfinite(seconds) or seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"must be at most {format_duration(MAX_DURATION_SECONDS)} (10 years)")
    return seconds


_DURATION_SCHEMA = {
    "oneOf": [
        {"type": "string", "example": "30s", "description": "like 30s, 15m, 1h, 2d, 1w, 1h30m"},
        {"type": "number", "description": "seconds"},
    ]
}


@extend_schema_field(_DURATION_SCHEMA)
class DurationField(serializers.Field):
    """ "30s", "15m", "1h", "2d", "1w" or seconds; validated to seconds (a float)."""

    def to_internal_value(self, data):
        try:
            return parse_bounded_duration(data)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def to_representation(self, value):
        return format_duration(value)


@extend_schema_field(
    {"oneOf": [*_DURATION_SCHEMA["oneOf"], {"type": "string", "format": "date-time"}]}
)
class DelayField(DurationField):
    """A duration from now, or an ISO 8601 date-time; validated to an aware datetime."""

    def to_internal_value(self, data):
        if isinstance(data, str) and ("T" in data or "-" in data):
            try:
                when = parse_datetime(data)
            except ValueError:  # well formed but not a real date-time, like month 13
                when = None
            if when is None:
                raise serializers.ValidationError(f"{data!r} is not an ISO 8601 date-time")
            if timezone.is_naive(when):
                when = timezone.make_aware(when, UTC)
            return when
        return timezone.now() + timedelta(seconds=super().to_internal_value(data))


class TagsField(serializers.ListField):
    child = serializers.CharField(allow_blank=False, trim_whitespace=False)

    def to_internal_value(self, data):
        if isinstance(data, str):  # Trigger.dev accepts one tag as a string
            data = [data]
        tags = super().to_internal_value(data)
        errors = [
            f"tag {t!r} is longer than {runs_settings.MAX_TAG_LENGTH} characters"
            for t in tags
            if len(t) > runs_settings.MAX_TAG_LENGTH
        ]
        if errors:
            raise serializers.ValidationError(errors)
        tags = list(dict.fromkeys(tags))
        if len(tags) > runs_settings.MAX_TAGS:
            raise serializers.ValidationError(
                f"a run has at most {runs_settings.MAX_TAGS} tags; {len(tags)} were given"
            )
        return tags


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "maxLength": 128},
            {"type": "object", "properties": {"name": {"type": "string", "maxLength": 128}}},
        ]
    }
)
class QueueField(serializers.Field):
    """A queue name, or Trigger.dev's ``{"name": …}``."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            data = data.get("name")
        if not isinstance(data, str) or not 0 < len(data) <= 128:
            raise serializers.ValidationError("a queue is a name of 1 to 128 characters")
        return data

    def to_representation(self, value):
        return value


class TriggerOptionsSerializer(serializers.Serializer):
    tags = TagsField(required=False)
    idempotencyKey = serializers.CharField(required=False, allow_blank=False)
    idempotencyKeyTTL = DurationField(required=False)
    delay = DelayField(required=False)
    ttl = DurationField(required=False)
    metadata = serializers.DictField(required=False)
    maxAttempts = serializers.IntegerField(required=False, min_value=1, max_value=100)
    maxDuration = DurationField(required=False)
    concurrencyKey = serializers.CharField(required=False, max_length=256)
    queue = QueueField(required=False)
    test = serializers.BooleanField(required=False)

    def validate_idempotencyKey(self, value):
        if len(value) > runs_settings.MAX_IDEMPOTENCY_KEY_LENGTH:
            raise serializers.ValidationError(
                f"at most {runs_settings.MAX_IDEMPOTENCY_KEY_LENGTH} characters"
            )
        return value

    def validate_ttl(self, value):
        if value <= 0:
            raise serializers.ValidationError("must be longer than zero")
        return value

    def validate_maxDuration(self, value):
        if value <= 0:
            raise serializers.ValidationError("must be longer than zero")
        return value

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["is not a trigger option"] for name in unknown}
                )
        return super().to_internal_value(data)


def _flatten(errors, prefix=""):
    flat = {}
    for name, value in errors.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            flat.update(_flatten(value, key + "."))
        else:
            flat[key] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return flat


def validate_options(options, prefix="options.") -> dict:
    """Validated trigger options (camelCase keys); InvalidInput or TooLarge when they are bad."""
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise InvalidInput({prefix.rstrip("."): "must be an object"})
    if not options:
        return {}  # nothing to check: skip building a serializer (a hot path)
    serializer = TriggerOptionsSerializer(data=options)
    if not serializer.is_valid():
        raise InvalidInput(_flatten(serializer.errors, prefix))
    data = dict(serializer.validated_data)
    if "metadata" in data:
        check_size(data["metadata"], runs_settings.MAX_METADATA_BYTES)
    return data


def check_payload(payload, field="payload"):
    """Raise unless ``payload`` is JSON and within MAX_PAYLOAD_BYTES."""
    size = len(strict_json(payload, field).encode())
    if size > runs_settings.MAX_PAYLOAD_BYTES:
        raise TooLarge(
            f"The {field} is {size} bytes serialized; the limit is "
            f"{runs_settings.MAX_PAYLOAD_BYTES} bytes.",
            code=f"{field}_too_large",
        )
