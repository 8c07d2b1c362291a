from rest_framework import permissions

from realtime_runs.models import ApiKey


def has_secret_key(request):
    return isinstance(request.auth, ApiKey)


class IsSecretKeyOrStaff(permissions.BasePermission):
    """A secret API key, or a signed-in staff user (the dashboard and the browsable API)."""

    message = "This needs a secret API key (Authorization: Bearer <key>) or a staff session."

    def has_permission(self, request, view):
        if has_secret_key(request):
            return True
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff)


def public_token(request):
    """The verified public access token of the request, or None."""
    from realtime_runs.tokens import Verified

    return request.auth if isinstance(request.auth, Verified) else None


class SecretKeyStaffOrPublicToken(IsSecretKeyOrStaff):
    """As above, or a public access token; the view then checks the token's scopes."""

    def has_permission(self, request, view):
        return public_token(request) is not None or super().has_permission(request, view)
