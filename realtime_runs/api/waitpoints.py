"""Wait tokens over REST (CONTRACT.md §3): create, list, read, complete, and the callback URL."""

import hmac

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from realtime_runs import tokens as access_tokens
from realtime_runs.api import serializers as s
from realtime_runs.api.pagination import cursor_page
from realtime_runs.api.permissions import SecretKeyStaffOrPublicToken, has_secret_key, public_token
from realtime_runs.api.views import ERRORS, _body
from realtime_runs.conf import runs_settings
from realtime_runs.engine import waits
from realtime_runs.errors import InvalidInput, Unauthorized
from realtime_runs.models import WaitToken, WaitTokenStatus, idempotency_hash
from realtime_runs.serialization import wait_token_to_dict


def _base_url(request):
    return request.build_absolute_uri("/")


def _create(request):
    body = _body(request, ("timeout", "idempotencyKey", "idempotencyKeyTTL", "tags"))
    token, cached = waits.create_token(
        timeout=body.get("timeout"),
        idempotency_key=body.get("idempotencyKey"),
        idempotency_key_ttl=body.get("idempotencyKeyTTL"),
        tags=body.get("tags"),
    )
    pat = access_tokens.create_token(
        [f"write:waitpoints:{token.id}"],
        expiration_time=runs_settings.WAITPOINT_TOKEN_LIFETIME,
        issued_by_key=request.auth if has_secret_key(request) else None,
        label="wait token",
    )
    return Response(
        {
            "id": token.id,
            "url": wait_token_to_dict(token, _base_url(request))["url"],
            "isCached": cached,
            "publicAccessToken": pat,
        }
    )


LIST_PARAMS = {
    "filter[status]",
    "filter[tags]",
    "filter[idempotencyKey]",
    "page[size]",
    "page[after]",
}


@extend_schema(
    methods=["POST"],
    request=s.WaitTokenCreateSerializer,
    responses={200: s.WaitTokenCreatedSerializer, **ERRORS},
    description="Create a wait token (a run can wait on it until someone completes it).",
)
@extend_schema(
    methods=["GET"],
    operation_id="v1_waitpoints_tokens_list",
    description="Wait tokens, newest first, with filters and cursor paging.",
    parameters=[
        OpenApiParameter(
            "filter[status]", str, description="comma-separated: WAITING, COMPLETED, TIMED_OUT"
        ),
        OpenApiParameter("filter[tags]", str, description="comma-separated: tokens with all"),
        OpenApiParameter("filter[idempotencyKey]", str),
        OpenApiParameter("page[size]", int, description="1 to 100 (25)"),
        OpenApiParameter("page[after]", str, description="the pagination.next of a page"),
    ],
    responses={200: s.WaitTokenListSerializer, **ERRORS},
)
@api_view(["GET", "POST"])
def tokens(request):
    """Create wait tokens (POST) and list them (GET)."""
    return _create(request) if request.method == "POST" else _list(request)


def _list(request):
    params = request.query_params
    unknown = sorted(set(params) - LIST_PARAMS - {"format"})
    if unknown:
        raise InvalidInput(
            {name: f"is not a filter; use {', '.join(sorted(LIST_PARAMS))}" for name in unknown}
        )
    found = WaitToken.objects.all()
    if "filter[status]" in params:
        statuses = [x for x in params["filter[status]"].split(",") if x]
        bad = [x for x in statuses if x not in WaitTokenStatus.values]
        if bad:
            raise InvalidInput({"filter[status]": f"unknown status {bad[0]!r}"})
        found = found.filter(status__in=statuses)
    for tag in [t for t in params.get("filter[tags]", "").split(",") if t]:
        found = found.with_tag(tag)
    if "filter[idempotencyKey]" in params:
        found = found.filter(idempotency_hash=idempotency_hash(params["filter[idempotencyKey]"]))
    page, next_cursor = cursor_page(
        found.select_related("completed_by_user", "completed_by_key"), params, "a wait token"
    )
    base = _base_url(request)
    return Response(
        {
            "data": [wait_token_to_dict(t, base) for t in page],
            "pagination": {"next": next_cursor},
        }
    )


@extend_schema(responses={200: s.WaitTokenSerializer, **ERRORS})
@api_view(["GET"])
def retrieve_token(request, token_id):
    """One wait token, with its output once completed."""
    return Response(wait_token_to_dict(waits.get_token(token_id), _base_url(request)))


def _complete(request, token_id, data):
    token = public_token(request)
    user = request.user if getattr(request.user, "is_authenticated", False) else None
    _, already = waits.complete_token(
        token_id,
        data,
        user=user,
        api_key=request.auth if has_secret_key(request) else None,
        jti=token.jti if token else "",
    )
    if already:
        return Response(
            {
                "success": True,
                "alreadyCompleted": True,
                "message": f"Wait token {token_id} was already completed; nothing changed.",
            }
        )
    return Response({"success": True, "alreadyCompleted": False})


@extend_schema(
    request=s.WaitTokenCompleteSerializer, responses={200: s.WaitTokenCompletedSerializer, **ERRORS}
)
@api_view(["POST"])
@permission_classes([SecretKeyStaffOrPublicToken])
def complete_token(request, token_id):
    """Complete a wait token with ``{"data": …}`` (a secret key, or ``write:waitpoints``)."""
    token = public_token(request)
    if token and not access_tokens.can_complete_waitpoint(token.scopes, token_id):
        raise access_tokens.forbidden(token.scopes, f"complete the wait token {token_id}")
    body = request.data
    if not isinstance(body, dict):
        raise InvalidInput({"body": 'must be a JSON object: {"data": <the output>}'})
    if "data" not in body:
        raise InvalidInput(
            {
                "data": 'is required: send {"data": <the output>}, e.g. {"data": {"approved": '
                "true}}; the body itself is not the output"
            }
        )
    _body(request, ("data",))
    waits.get_token(token_id)
    return _complete(request, token_id, body["data"])


@extend_schema(request=None, responses={200: s.WaitTokenCompletedSerializer, **ERRORS})
@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
def callback(request, token_id, signature):
    """Complete a wait token through its URL: the whole JSON body becomes the output."""
    if not hmac.compare_digest(signature, waits.callback_signature(token_id)):
        raise Unauthorized("This callback URL is not valid for that wait token.")
    waits.get_token(token_id)
    return _complete(request, token_id, request.data)
