"""One error shape for the whole API: ``{"error": "<message>", "code": "<code>", ...details}``."""

from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from realtime_runs.errors import RunsError

_CODES = {
    exceptions.ParseError: "malformed",
    exceptions.AuthenticationFailed: "unauthorized",
    exceptions.NotAuthenticated: "unauthorized",
    exceptions.PermissionDenied: "forbidden",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
}


def _flatten(detail, prefix=""):
    if isinstance(detail, dict):
        out = {}
        for key, value in detail.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    if isinstance(detail, list) and detail and isinstance(detail[0], dict | list):
        out = {}
        for index, value in enumerate(detail):
            out.update(_flatten(value, f"{prefix}[{index}]."))
        return out
    items = detail if isinstance(detail, list) else [detail]
    return {prefix.rstrip(".") or "non_field_errors": [str(item) for item in items]}


def error_response(message, code, status_code, headers=None, **details):
    return Response(
        {"error": message, "code": code, **details}, status=status_code, headers=headers
    )


def exception_handler(exc, context):
    if isinstance(exc, RunsError):
        return error_response(exc.message, exc.code, exc.status, **exc.details)
    if isinstance(exc, RequestDataTooBig):
        return error_response(
            "The request body is too large.", "too_large", status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        name, messages = next(iter(fields.items()))
        return error_response(
            f"Invalid input: {name}: {messages[0]}", "invalid", 400, fields=fields
        )
    if isinstance(exc, exceptions.APIException):
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        code = _CODES.get(type(exc), exc.default_code)
        message = str(exc.detail)
        if isinstance(exc, exceptions.NotAuthenticated):
            message = "Missing credentials: send 'Authorization: Bearer <secret API key>'."
        return error_response(message, code, exc.status_code, headers=headers)
    return None
