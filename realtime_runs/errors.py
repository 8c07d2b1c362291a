"""Errors the engine raises for bad input; each knows its HTTP status and machine code."""


class RunsError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message, *, code=None, status=None, **details):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.details = details


class InvalidInput(RunsError):
    """400, with ``details["fields"]``: field name → list of messages."""

    def __init__(self, fields, message=None):
        fields = {
            name: [str(m) for m in (msgs if isinstance(msgs, list) else [msgs])]
            for name, msgs in fields.items()
        }
        if message is None:
            first = next(iter(fields.items()))
            message = f"Invalid input: {first[0]}: {first[1][0]}"
        super().__init__(message, fields=fields)


class Unauthorized(RunsError):
    """401: the credential is missing, malformed, expired, revoked or not valid here."""

    status = 401
    code = "unauthorized"


class Forbidden(RunsError):
    """403: a valid credential without the scope."""

    status = 403
    code = "forbidden"


class NotFound(RunsError):
    status = 404
    code = "not_found"


class TooLarge(RunsError):
    status = 413
    code = "too_large"


class Unprocessable(RunsError):
    """422: the request is well formed but cannot apply to the thing in its current state."""

    status = 422
    code = "unprocessable"
