"""Request and response shapes. Requests are validated by the engine (one rule set for the SDK
and the API); these serializers also describe the shapes in the OpenAPI schema."""

from rest_framework import serializers

from realtime_runs.engine.options import TriggerOptionsSerializer
from realtime_runs.models import RunStatus


class TriggerRequestSerializer(serializers.Serializer):
    payload = serializers.JSONField(required=False, allow_null=True)
    options = TriggerOptionsSerializer(required=False)


class TriggerResponseSerializer(serializers.Serializer):
    id = serializers.CharField()
    isCached = serializers.BooleanField()
    publicAccessToken = serializers.CharField(help_text="a JWT that may read this run")


class BatchItemSerializer(serializers.Serializer):
    task = serializers.CharField()
    payload = serializers.JSONField(required=False, allow_null=True)
    options = TriggerOptionsSerializer(required=False)


class BatchRequestSerializer(serializers.Serializer):
    items = BatchItemSerializer(many=True)


class BatchResponseSerializer(serializers.Serializer):
    id = serializers.CharField()
    runs = serializers.ListField(child=serializers.CharField())
    publicAccessToken = serializers.CharField(help_text="a JWT that may read this batch")


class RunErrorSerializer(serializers.Serializer):
    message = serializers.CharField()
    name = serializers.CharField()
    stackTrace = serializers.CharField()


class RunObjectSerializer(serializers.Serializer):
    """The run object of CONTRACT.md §1 (schema only: ``Run.to_dict()`` builds it)."""

    id = serializers.CharField()
    taskIdentifier = serializers.CharField()
    status = serializers.ChoiceField(choices=RunStatus.choices)
    payload = serializers.JSONField(allow_null=True)
    output = serializers.JSONField(allow_null=True)
    metadata = serializers.DictField()
    tags = serializers.ListField(child=serializers.CharField())
    error = RunErrorSerializer(allow_null=True)
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()
    queuedAt = serializers.DateTimeField(allow_null=True)
    startedAt = serializers.DateTimeField(allow_null=True)
    finishedAt = serializers.DateTimeField(allow_null=True)
    delayedUntil = serializers.DateTimeField(allow_null=True)
    expiredAt = serializers.DateTimeField(allow_null=True)
    ttl = serializers.CharField(allow_null=True)
    durationMs = serializers.IntegerField()
    costInCents = serializers.FloatField()
    baseCostInCents = serializers.FloatField()
    idempotencyKey = serializers.CharField(allow_null=True)
    isTest = serializers.BooleanField()
    batchId = serializers.CharField(allow_null=True)
    number = serializers.IntegerField()
    attemptNumber = serializers.IntegerField()
    streams = serializers.ListField(child=serializers.CharField())
    version = serializers.IntegerField()
    isQueued = serializers.BooleanField()
    isExecuting = serializers.BooleanField()
    isWaiting = serializers.BooleanField()
    isCompleted = serializers.BooleanField()
    isSuccess = serializers.BooleanField()
    isFailed = serializers.BooleanField()
    isCancelled = serializers.BooleanField()
    isFinished = serializers.BooleanField()


class PaginationSerializer(serializers.Serializer):
    next = serializers.CharField(allow_null=True)


class RunListSerializer(serializers.Serializer):
    data = RunObjectSerializer(many=True)
    pagination = PaginationSerializer()


class MetadataRequestSerializer(serializers.Serializer):
    operations = serializers.ListField(child=serializers.DictField(), required=False)
    metadata = serializers.DictField(required=False)


class MetadataResponseSerializer(serializers.Serializer):
    metadata = serializers.DictField()


class IdSerializer(serializers.Serializer):
    id = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField()
    code = serializers.CharField()


class PublicTokenRequestSerializer(serializers.Serializer):
    scopes = serializers.JSONField(
        help_text='scope strings, or {"read": {"runs": ["run_…"], "tags": ["user-1"]}}'
    )
    expirationTime = serializers.JSONField(required=False, help_text="a duration (15m)")
    oneTimeUse = serializers.BooleanField(required=False, default=False)


class PublicTokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()


class WaitTokenCreateSerializer(serializers.Serializer):
    timeout = serializers.JSONField(required=False, help_text='a duration, e.g. "1h"')
    idempotencyKey = serializers.CharField(required=False)
    idempotencyKeyTTL = serializers.JSONField(required=False, help_text="a duration")
    tags = serializers.ListField(child=serializers.CharField(), required=False)


class WaitTokenCreatedSerializer(serializers.Serializer):
    id = serializers.CharField()
    url = serializers.URLField(help_text="POST any JSON here to complete the token with it")
    isCached = serializers.BooleanField()
    publicAccessToken = serializers.CharField(help_text="write:waitpoints:<id>, 24 hours")


class WaitTokenSerializer(serializers.Serializer):
    id = serializers.CharField()
    url = serializers.URLField()
    status = serializers.ChoiceField(choices=["WAITING", "COMPLETED", "TIMED_OUT"])
    tags = serializers.ListField(child=serializers.CharField())
    idempotencyKey = serializers.CharField(allow_null=True)
    idempotencyKeyExpiresAt = serializers.DateTimeField(allow_null=True)
    timeoutAt = serializers.DateTimeField(allow_null=True)
    createdAt = serializers.DateTimeField()
    completedAt = serializers.DateTimeField(allow_null=True)
    output = serializers.JSONField(allow_null=True)
    error = serializers.DictField(allow_null=True)
    outputIsError = serializers.BooleanField()
    completedBy = serializers.DictField(allow_null=True)


class WaitTokenListSerializer(serializers.Serializer):
    data = WaitTokenSerializer(many=True)
    pagination = PaginationSerializer()


class WaitTokenCompleteSerializer(serializers.Serializer):
    data = serializers.JSONField(help_text="the output the waiting run gets")


class WaitTokenCompletedSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    alreadyCompleted = serializers.BooleanField()
