"""Rate limits per credential: each API key, public token, staff user, or else client address."""

from rest_framework.throttling import SimpleRateThrottle

from realtime_runs.api.permissions import has_secret_key, public_token


class CredentialRateThrottle(SimpleRateThrottle):
    scope = "credential"

    def get_cache_key(self, request, view):
        if has_secret_key(request):
            ident = f"key:{request.auth.pk}"
        elif (token := public_token(request)) is not None:
            ident = f"token:{token.jti}"
        elif getattr(request.user, "is_authenticated", False):
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
