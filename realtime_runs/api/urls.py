from django.urls import path

from realtime_runs.api import views, waitpoints

app_name = "api"

urlpatterns = [
    path("v1/tasks/batch", views.batch_trigger, name="batch-trigger"),
    path("v1/tasks/<str:task_id>/trigger", views.trigger_task, name="trigger"),
    path("v3/runs/<str:run_id>", views.retrieve_run, name="run"),
    path("v1/runs", views.list_runs, name="runs"),
    path("v2/runs/<str:run_id>/cancel", views.cancel_run, name="cancel"),
    path("v1/runs/<str:run_id>/replay", views.replay_run, name="replay"),
    path("v1/runs/<str:run_id>/metadata", views.update_metadata, name="metadata"),
    path("v1/auth/public-tokens", views.create_public_token, name="public-tokens"),
    path("v1/waitpoints/tokens", waitpoints.tokens, name="wait-tokens"),
    path("v1/waitpoints/tokens/<str:token_id>", waitpoints.retrieve_token, name="wait-token"),
    path(
        "v1/waitpoints/tokens/<str:token_id>/complete",
        waitpoints.complete_token,
        name="wait-token-complete",
    ),
    path(
        "v1/waitpoints/tokens/<str:token_id>/callback/<str:signature>",
        waitpoints.callback,
        name="wait-token-callback",
    ),
]
