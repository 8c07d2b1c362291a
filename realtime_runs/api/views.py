"""The REST API of CONTRACT.md §3. Views stay thin: they check the envelope and call the engine."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import api_view, permission_classes
from rest_framework.response import Response

from realtime_runs import engine, tokens
from realtime_runs.api import serializers as s
from realtime_runs.api.pagination import cursor_page
from realtime_runs.api.permissions import SecretKeyStaffOrPublicToken, has_secret_key, public_token
from realtime_runs.engine.options import parse_bounded_duration
from realtime_runs.errors import InvalidInput
from realtime_runs.models import Run, RunStatus

ERRORS = {code: s.ErrorSerializer for code in (400, 401, 403, 404, 413, 422, 429)}


def _body(request, allowed):
    data = request.data
    if not isinstance(data, dict):
        raise InvalidInput({"body": "must be a JSON object"})
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise InvalidInput(
            {name: f"is not a field here; the fields are {', '.join(allowed)}" for name in unknown}
        )
    return data


def _issuer(request):
    return request.auth if has_secret_key(request) else None


@extend_schema(
    request=s.TriggerRequestSerializer, responses={200: s.TriggerResponseSerializer, **ERRORS}
)
@api_view(["POST"])
@permission_classes([SecretKeyStaffOrPublicToken])
def trigger_task(request, task_id):
    """Trigger a run of a task (secret key, or a token with ``trigger:tasks:<taskId>``)."""
    token = public_token(request)
    if token and not tokens.can_trigger(token.scopes, task_id):
        raise tokens.forbidden(token.scopes, f"trigger the task {task_id!r}")
    body = _body(request, ("payload", "options", "context"))
    with transaction.atomic():
        if token:
            token.consume()  # in the trigger's transaction: a failed trigger uses nothing up
        result = engine.trigger(task_id, body.get("payload"), body.get("options"))
        pat = tokens.create_token(
            [f"read:runs:{result.run.id}"], issued_by_key=_issuer(request), label="trigger"
        )
    return Response({"id": result.run.id, "isCached": result.is_cached, "publicAccessToken": pat})


@extend_schema(
    request=s.BatchRequestSerializer, responses={200: s.BatchResponseSerializer, **ERRORS}
)
@api_view(["POST"])
@permission_classes([SecretKeyStaffOrPublicToken])
def batch_trigger(request):
    """Trigger a batch of runs, all or nothing (secret key, or ``batchTrigger:tasks:<id>``)."""
    body = _body(request, ("items",))
    token = public_token(request)
    if token:
        items = body.get("items") if isinstance(body.get("items"), list) else []
        task_ids = sorted({i.get("task") for i in items if isinstance(i, dict) and i.get("task")})
        if not tokens.can_batch_trigger(token.scopes, task_ids):
            raise tokens.forbidden(token.scopes, f"batch-trigger {', '.join(task_ids) or 'that'}")
    with transaction.atomic():
        if token:
            token.consume()
        batch, results = engine.batch_trigger(body.get("items"))
        pat = tokens.create_token(
            [f"read:batch:{batch.id}"], issued_by_key=_issuer(request), label="batch trigger"
        )
    return Response({"id": batch.id, "runs": [r.run.id for r in results], "publicAccessToken": pat})


@extend_schema(responses={200: s.RunObjectSerializer, **ERRORS})
@api_view(["GET"])
@permission_classes([SecretKeyStaffOrPublicToken])
def retrieve_run(request, run_id):
    """The run object (secret key, or a token that may read the run)."""
    run = engine.get_run(run_id)
    token = public_token(request)
    if token and not tokens.can_read_run(
        token.scopes, run.id, run.tags, run.batch_id, run.task_identifier
    ):
        raise tokens.forbidden(token.scopes, f"read the run {run.id}")
    return Response(run.to_dict())


@extend_schema(request=None, responses={200: s.IdSerializer, **ERRORS})
@api_view(["POST"])
def cancel_run(request, run_id):
    """Cancel a run that has not finished (canceling a CANCELED run again is a no-op)."""
    return Response({"id": engine.cancel(run_id).id})


@extend_schema(request=None, responses={200: s.IdSerializer, **ERRORS})
@api_view(["POST"])
def replay_run(request, run_id):
    """A new run with the same task, payload and tags."""
    return Response({"id": engine.replay(run_id).run.id})


@extend_schema(
    request=s.MetadataRequestSerializer, responses={200: s.MetadataResponseSerializer, **ERRORS}
)
@api_view(["PUT"])
def update_metadata(request, run_id):
    """Apply metadata operations (or replace it with ``metadata``)."""
    body = _body(request, ("operations", "metadata"))
    engine.get_run(run_id)
    operations = body.get("operations")
    if "metadata" in body:
        operations = [{"type": "replace", "value": body["metadata"]}, *(operations or [])]
    if not isinstance(operations, list) or not operations:
        raise InvalidInput({"operations": "a non-empty list of operations is required"})
    return Response({"metadata": engine.write_metadata(run_id, operations)})


LIST_PARAMS = {
    "filter[status]",
    "filter[taskIdentifier]",
    "filter[tag]",
    "filter[createdAt][from]",
    "filter[createdAt][to]",
    "filter[createdAt][period]",
    "filter[batch]",
    "page[size]",
    "page[after]",
}


def _csv(value):
    return [item for item in value.split(",") if item]


def _when(name, value):
    try:
        when = parse_datetime(value)
    except ValueError:  # well formed but not a real date-time, like month 13
        when = None
    if when is None:
        raise InvalidInput({name: f"{value!r} is not an ISO 8601 date-time"})
    return when if timezone.is_aware(when) else timezone.make_aware(when)


@extend_schema(
    parameters=[
        OpenApiParameter(name, str, description=description)
        for name, description in (
            ("filter[status]", "comma-separated statuses"),
            ("filter[taskIdentifier]", "comma-separated task ids"),
            ("filter[tag]", "comma-separated tags: runs with any of them"),
            ("filter[createdAt][from]", "ISO 8601 date-time"),
            ("filter[createdAt][to]", "ISO 8601 date-time"),
            ("filter[createdAt][period]", "a duration back from now, like 1d"),
            ("filter[batch]", "a batch id"),
            ("page[size]", "1 to 100 (25)"),
            ("page[after]", "the pagination.next of the previous page"),
        )
    ],
    responses={200: s.RunListSerializer, **ERRORS},
)
@api_view(["GET"])
def list_runs(request):
    """Runs, newest first, with filters and cursor paging."""
    params = request.query_params
    unknown = sorted(set(params) - LIST_PARAMS - {"format"})
    if unknown:
        raise InvalidInput(
            {name: f"is not a filter; use {', '.join(sorted(LIST_PARAMS))}" for name in unknown}
        )
    runs = Run.objects.all()
    if "filter[status]" in params:
        statuses = _csv(params["filter[status]"])
        bad = [x for x in statuses if x not in RunStatus.values]
        if bad:
            raise InvalidInput({"filter[status]": f"unknown status {bad[0]!r}"})
        runs = runs.filter(status__in=statuses)
    if "filter[taskIdentifier]" in params:
        runs = runs.filter(task_identifier__in=_csv(params["filter[taskIdentifier]"]))
    if "filter[tag]" in params:
        runs = runs.filter(
            pk__in=Run.objects.filter(tag_rows__name__in=_csv(params["filter[tag]"])).values("pk")
        )
    if "filter[batch]" in params:
        runs = runs.filter(batch_id=params["filter[batch]"])
    if "filter[createdAt][from]" in params:
        runs = runs.filter(
            created_at__gte=_when("filter[createdAt][from]", params["filter[createdAt][from]"])
        )
    if "filter[createdAt][to]" in params:
        runs = runs.filter(
            created_at__lte=_when("filter[createdAt][to]", params["filter[createdAt][to]"])
        )
    if "filter[createdAt][period]" in params:
        try:
            seconds = parse_bounded_duration(params["filter[createdAt][period]"])
        except ValueError as exc:
            raise InvalidInput({"filter[createdAt][period]": str(exc)}) from None
        runs = runs.filter(created_at__gte=timezone.now() - timedelta(seconds=seconds))
    page, next_cursor = cursor_page(runs, params, "a run")
    return Response(
        {
            # As in Trigger.dev, list items leave out payload and output: fetch the run for those.
            "data": [run.to_dict(skip_columns=("payload", "output")) for run in page],
            "pagination": {"next": next_cursor},
        }
    )


@extend_schema(
    request=s.PublicTokenRequestSerializer,
    responses={200: s.PublicTokenResponseSerializer, **ERRORS},
)
@api_view(["POST"])
def create_public_token(request):
    """Issue a public access token (for a browser) with the given scopes."""
    body = _body(request, ("scopes", "expirationTime", "oneTimeUse"))
    if "scopes" not in body:
        raise InvalidInput({"scopes": 'is required, e.g. {"read": {"runs": ["run_…"]}}'})
    one_time = body.get("oneTimeUse", False)
    if not isinstance(one_time, bool):
        raise InvalidInput({"oneTimeUse": "must be true or false"})
    user = request.user if getattr(request.user, "is_authenticated", False) else None
    token = tokens.create_token(
        body["scopes"],
        expiration_time=body.get("expirationTime"),
        one_time=one_time,
        issued_by_key=_issuer(request),
        issued_by_user=user,
        label="api",
    )
    return Response({"token": token})
