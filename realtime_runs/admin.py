from django.contrib import admin, messages

from realtime_runs import engine
from realtime_runs.errors import RunsError
from realtime_runs.models import AccessToken, ApiKey, Batch, Run, RunTag, SigningKey


class RunTagInline(admin.TabularInline):
    model = RunTag
    extra = 0
    can_delete = False
    readonly_fields = ["name"]


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "task_identifier",
        "number",
        "status",
        "attempt_number",
        "created_at",
        "duration_ms",
    ]
    list_filter = ["status", "task_identifier", "is_test"]
    search_fields = ["id", "task_identifier", "idempotency_key", "tag_rows__name"]
    date_hierarchy = "created_at"
    inlines = [RunTagInline]
    actions = ["cancel_runs", "replay_runs"]
    # Runs change only through the engine, so that every change is versioned and announced.
    readonly_fields = [f.name for f in Run._meta.fields]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Cancel the selected runs")
    def cancel_runs(self, request, queryset):
        canceled = 0
        for run in queryset.active():
            try:
                engine.cancel(run.id)
                canceled += 1
            except RunsError as exc:
                self.message_user(request, exc.message, messages.WARNING)
        self.message_user(request, f"Canceled {canceled} run(s).")

    @admin.action(description="Replay the selected runs")
    def replay_runs(self, request, queryset):
        for run in queryset:
            engine.replay(run.id)
        self.message_user(request, f"Replayed {queryset.count()} run(s).")


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ["id", "created_at"]
    readonly_fields = ["id", "created_at", "idempotency_key"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "lookup", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["lookup", "created_at", "created_by", "last_used_at", "revoked_at"]
    fields = ["name", *readonly_fields]
    actions = ["revoke_keys"]

    def has_add_permission(self, request):
        # A key's secret must be shown once at creation: that is the create_api_key command.
        return False

    @admin.action(description="Revoke the selected keys")
    def revoke_keys(self, request, queryset):
        for api_key in queryset:
            api_key.revoke()
        self.message_user(request, f"Revoked {queryset.count()} key(s).")


@admin.register(AccessToken)
class AccessTokenAdmin(admin.ModelAdmin):
    """Every public access token issued: who issued it, what it may do, and revocation."""

    list_display = ["jti", "label", "issued_at", "expires_at", "one_time", "used_at", "revoked_at"]
    list_filter = ["one_time", "label"]
    search_fields = ["jti", "label"]
    readonly_fields = [f.name for f in AccessToken._meta.fields]
    actions = ["revoke_tokens"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke_tokens(self, request, queryset):
        for token in queryset.filter(revoked_at__isnull=True):
            token.revoke()
        self.message_user(request, "Revoked; their live subscriptions end within seconds.")


@admin.register(SigningKey)
class SigningKeyAdmin(admin.ModelAdmin):
    list_display = ["kid", "created_at", "retired_at"]
    readonly_fields = ["kid", "created_at", "retired_at"]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False  # rotate with manage.py rotate_signing_key
