"""The records of the run engine: runs, their tags, batches, task counters and API keys."""

import hashlib
import hmac
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from realtime_runs import ids


class RunStatus(models.TextChoices):
    """Trigger.dev v4 run statuses (CONTRACT.md §1)."""

    DELAYED = "DELAYED"
    QUEUED = "QUEUED"
    DEQUEUED = "DEQUEUED"
    EXECUTING = "EXECUTING"
    WAITING = "WAITING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    CRASHED = "CRASHED"
    SYSTEM_FAILURE = "SYSTEM_FAILURE"
    EXPIRED = "EXPIRED"
    TIMED_OUT = "TIMED_OUT"


FINAL_STATUSES = frozenset(
    {
        RunStatus.COMPLETED,
        RunStatus.FAILED,
        RunStatus.CANCELED,
        RunStatus.CRASHED,
        RunStatus.SYSTEM_FAILURE,
        RunStatus.EXPIRED,
        RunStatus.TIMED_OUT,
    }
)
ACTIVE_STATUSES = frozenset(set(RunStatus) - FINAL_STATUSES)
FAILED_STATUSES = frozenset(FINAL_STATUSES - {RunStatus.COMPLETED, RunStatus.CANCELED})

# Which status may follow which (CONTRACT.md §1: once final, never again). EXECUTING may follow
# itself: a retry is a new attempt of the same run.
TRANSITIONS = {
    RunStatus.DELAYED: {RunStatus.QUEUED, RunStatus.CANCELED},
    RunStatus.QUEUED: {RunStatus.DEQUEUED, RunStatus.CANCELED, RunStatus.EXPIRED},
    RunStatus.DEQUEUED: {
        RunStatus.EXECUTING,
        RunStatus.QUEUED,
        RunStatus.CANCELED,
        RunStatus.CRASHED,
        RunStatus.SYSTEM_FAILURE,
    },
    RunStatus.EXECUTING: {
        RunStatus.EXECUTING,
        RunStatus.WAITING,
        RunStatus.COMPLETED,
        RunStatus.FAILED,
        RunStatus.CANCELED,
        RunStatus.CRASHED,
        RunStatus.SYSTEM_FAILURE,
        RunStatus.TIMED_OUT,
    },
    RunStatus.WAITING: {
        RunStatus.EXECUTING,
        RunStatus.CANCELED,
        RunStatus.SYSTEM_FAILURE,
        RunStatus.TIMED_OUT,
    },
    **{status: set() for status in FINAL_STATUSES},
}


def sources_of(target):
    """The statuses a run may move to ``target`` from."""
    return [status for status, nexts in TRANSITIONS.items() if target in nexts]


class RunQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status__in=ACTIVE_STATUSES)

    def finished(self):
        return self.filter(status__in=FINAL_STATUSES)

    def with_tag(self, tag):
        return self.filter(tag_rows__name=tag)

    def ready(self, now=None):
        """Runs waiting for a worker: QUEUED, or EXECUTING between attempts, and due."""
        now = now or timezone.now()
        return self.filter(
            status__in=[RunStatus.QUEUED, RunStatus.EXECUTING],
            worker_id="",
            ready_at__lte=now,
        )


class Batch(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=ids.batch_id, editable=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    idempotency_key = models.CharField(max_length=2048, blank=True, default="")

    class Meta:
        verbose_name_plural = "batches"
        ordering = ["-created_at"]

    def __str__(self):
        return self.id


class Run(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=ids.run_id, editable=False)
    task_identifier = models.CharField(max_length=128)
    number = models.PositiveIntegerField(help_text="1-based, per task")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    version = models.PositiveIntegerField(default=1, help_text="+1 on every change")

    payload = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=list, blank=True)
    error = models.JSONField(null=True, blank=True)
    streams = models.JSONField(default=list, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    delayed_until = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)

    # Options, as given at trigger time.
    ttl = models.CharField(max_length=32, blank=True, default="")
    ttl_seconds = models.FloatField(null=True, blank=True)
    max_attempts = models.PositiveIntegerField(null=True, blank=True)
    max_duration = models.FloatField(null=True, blank=True, help_text="seconds")
    idempotency_key = models.CharField(max_length=2048, blank=True, default="")
    # sha256 of the key: what lookups use, since a 2048-character key is too long to index.
    idempotency_hash = models.CharField(max_length=64, blank=True, default="")
    idempotency_key_expires_at = models.DateTimeField(null=True, blank=True)
    concurrency_key = models.CharField(max_length=256, blank=True, default="")
    queue = models.CharField(max_length=128, blank=True, default="")
    is_test = models.BooleanField(default=False)
    batch = models.ForeignKey(
        Batch, null=True, blank=True, on_delete=models.CASCADE, related_name="runs"
    )
    replayed_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays"
    )

    # Execution bookkeeping (not part of the public run object).
    attempt_number = models.PositiveIntegerField(default=0)
    duration_ms = models.PositiveBigIntegerField(default=0)
    cost_in_cents = models.FloatField(default=0.0)
    base_cost_in_cents = models.FloatField(default=0.0)
    ready_at = models.DateTimeField(null=True, blank=True, help_text="due for a worker")
    expire_at = models.DateTimeField(null=True, blank=True, help_text="EXPIRED if not started")
    worker_id = models.CharField(max_length=128, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    handed_off_at = models.DateTimeField(null=True, blank=True)
    # Durable waits: what a WAITING run waits for, and how far its replay has come.
    waiting_for = models.ForeignKey(
        "WaitToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="waiters"
    )
    waiting_key = models.CharField(max_length=300, blank=True, default="")
    wake_at = models.DateTimeField(null=True, blank=True)
    suspended_at = models.DateTimeField(null=True, blank=True)
    replay_marks = models.JSONField(default=dict, blank=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["created_at", "id"], name="run_created"),
            models.Index(fields=["task_identifier", "created_at"], name="run_task_created"),
            models.Index(fields=["status", "created_at"], name="run_status_created"),
            models.Index(
                fields=["task_identifier", "idempotency_hash"],
                name="run_idempotency",
                condition=~Q(idempotency_hash=""),
            ),
            # The sweep and the workers look only at active runs: keep those lookups small.
            models.Index(
                fields=["status", "ready_at"],
                name="run_ready",
                condition=Q(status__in=["QUEUED", "EXECUTING", "DELAYED", "DEQUEUED"]),
            ),
            models.Index(
                fields=["worker_id", "heartbeat_at"],
                name="run_claimed",
                condition=~Q(worker_id=""),
            ),
        ]

    def __str__(self):
        return self.id

    @property
    def is_final(self):
        return self.status in FINAL_STATUSES

    def to_dict(self, skip_columns=()):
        """The run object of CONTRACT.md §1."""
        from realtime_runs.serialization import run_to_dict

        return run_to_dict(self, skip_columns=skip_columns)


def idempotency_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest() if key else ""


class RunTag(models.Model):
    """One row per tag of a run, so that tag filters are an indexed join on every database."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="tag_rows")
    name = models.CharField(max_length=128)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="run_tag_unique")]
        indexes = [models.Index(fields=["name", "run"], name="run_tag_name")]

    def __str__(self):
        return self.name


class TaskCounter(models.Model):
    """The last run ``number`` given out for a task."""

    task_identifier = models.CharField(primary_key=True, max_length=128)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.task_identifier}: {self.last_number}"


KEY_PREFIX = "rr_sk_"
_LOOKUP_LENGTH = len(KEY_PREFIX) + 8


def _digest(key: str) -> str:
    return hmac.new(b"realtime_runs.api_key", key.encode(), hashlib.sha256).hexdigest()


class ApiKeyQuerySet(models.QuerySet):
    def create_key(self, name, created_by=None):
        """Make a new key; returns ``(api_key, secret)``. The secret is shown once, never stored."""
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        api_key = self.create(
            name=name,
            lookup=secret[:_LOOKUP_LENGTH],
            digest=_digest(secret),
            created_by=created_by,
        )
        return api_key, secret

    def authenticate(self, secret: str, include_revoked=False):
        """The active key for ``secret`` (or a revoked one, if asked), or None."""
        if not secret.startswith(KEY_PREFIX):
            return None
        candidates = self.filter(lookup=secret[:_LOOKUP_LENGTH])
        if not include_revoked:
            candidates = candidates.filter(revoked_at__isnull=True)
        for api_key in candidates:
            if hmac.compare_digest(api_key.digest, _digest(secret)):
                return api_key
        return None


class ApiKey(models.Model):
    """A secret API key for servers: stored as a lookup prefix and a digest, revocable."""

    name = models.CharField(max_length=100)
    lookup = models.CharField(max_length=32, db_index=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self):
        return f"{self.name} ({self.lookup}…)"

    def revoke(self):
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])


class SigningKey(models.Model):
    """A key that signs public access tokens (HS256). The newest active one signs; every key
    not yet retired still verifies, so rotating never breaks tokens already handed out.

    Only a random salt is stored: the HMAC key is derived from it and SECRET_KEY, so a copy of
    the database alone cannot mint tokens.
    """

    kid = models.CharField(primary_key=True, max_length=32, default=ids.signing_key_id)
    salt = models.CharField(max_length=64, default=secrets.token_hex, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.kid

    @property
    def secret(self) -> bytes:
        return hmac.new(
            settings.SECRET_KEY.encode(), f"realtime_runs.jwt:{self.salt}".encode(), hashlib.sha256
        ).digest()


class AccessTokenQuerySet(models.QuerySet):
    def active(self, now=None):
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True, expires_at__gt=now)


class AccessToken(models.Model):
    """The record of every public access token issued: for listing, audit and revocation."""

    jti = models.CharField(primary_key=True, max_length=40)
    kid = models.CharField(max_length=32)
    scopes = models.JSONField(default=list)
    issued_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    one_time = models.BooleanField(default=False)
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    issued_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    issued_by_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL)
    label = models.CharField(max_length=200, blank=True, default="")

    objects = AccessTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-issued_at"]
        indexes = [models.Index(fields=["expires_at"], name="token_expires")]

    def __str__(self):
        return self.jti

    def revoke(self):
        """Refuse this token from now on; its live subscriptions end within seconds."""
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])
            from realtime_runs.realtime.publish import announce_token_revoked

            announce_token_revoked(self.jti)


class StreamChunk(models.Model):
    """One chunk of a run's stream: ``seq`` counts from 1 per (run, key), with no gaps."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="stream_chunks")
    key = models.CharField(max_length=64)
    seq = models.PositiveIntegerField()
    data = models.JSONField(null=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "key", "seq"], name="stream_chunk_unique")
        ]
        ordering = ["run", "key", "seq"]

    def __str__(self):
        return f"{self.run_id}/{self.key}#{self.seq}"


class WaitTokenStatus(models.TextChoices):
    WAITING = "WAITING"
    COMPLETED = "COMPLETED"
    TIMED_OUT = "TIMED_OUT"


class WaitTokenQuerySet(models.QuerySet):
    def waiting(self):
        return self.filter(status=WaitTokenStatus.WAITING)

    def with_tag(self, tag):
        return self.filter(tag_rows__name=tag)


class WaitToken(models.Model):
    """A waitpoint a run can wait on until someone (or its timeout) completes it."""

    id = models.CharField(primary_key=True, max_length=40, default=ids.waitpoint_id)
    status = models.CharField(
        max_length=12, choices=WaitTokenStatus.choices, default=WaitTokenStatus.WAITING
    )
    tags = models.JSONField(default=list, blank=True)
    idempotency_key = models.CharField(max_length=2048, blank=True, default="")
    idempotency_hash = models.CharField(max_length=64, blank=True, default="")
    idempotency_key_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    timeout_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    # Who completed it, for the approval inbox: a staff user, an API key or a token's jti.
    completed_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    completed_by_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL)
    completed_by_token = models.CharField(max_length=40, blank=True, default="")
    created_by_run = models.ForeignKey(
        Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="created_wait_tokens"
    )

    objects = WaitTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "timeout_at"], name="waittoken_timeout"),
            models.Index(
                fields=["idempotency_hash"],
                name="waittoken_idempotency",
                condition=~Q(idempotency_hash=""),
            ),
        ]

    def __str__(self):
        return self.id

    @property
    def is_completed(self):
        return self.status != WaitTokenStatus.WAITING


class WaitTokenTag(models.Model):
    token = models.ForeignKey(WaitToken, on_delete=models.CASCADE, related_name="tag_rows")
    name = models.CharField(max_length=128)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token", "name"], name="waittoken_tag_unique")
        ]
        indexes = [models.Index(fields=["name", "token"], name="waittoken_tag_name")]

    def __str__(self):
        return self.name


class RunStep(models.Model):
    """The recorded result of a durable call of a run (a step, a wait, a token it created).

    When a run resumes, its task function is called again and each such call returns what is
    recorded here instead of doing its work again.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    key = models.CharField(max_length=300)
    result = models.JSONField(null=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="run_step_unique")]
        ordering = ["run", "created_at", "id"]

    def __str__(self):
        return f"{self.run_id}/{self.key}"
