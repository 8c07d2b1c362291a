from django.apps import AppConfig


class RealtimeRunsConfig(AppConfig):
    name = "realtime_runs"
    verbose_name = "Runs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from realtime_runs import checks  # noqa: F401  (registers system checks)
        from realtime_runs.realtime import publish  # noqa: F401  (connects the publisher)
        from realtime_runs.registry import autodiscover

        autodiscover()
