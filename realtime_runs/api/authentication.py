"""Secret API keys: ``Authorization: Bearer rr_sk_…``."""

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import authentication, exceptions

from realtime_runs.models import KEY_PREFIX, ApiKey


class SecretKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header: send 'Authorization: Bearer <secret key>'."
            )
        if not credential.startswith(KEY_PREFIX):
            return None  # not a secret key: perhaps a public access token, for its own class
        api_key = ApiKey.objects.authenticate(credential)
        if api_key is None:
            revoked = ApiKey.objects.authenticate(credential, include_revoked=True)
            if revoked is not None:
                raise exceptions.AuthenticationFailed("This API key was revoked.")
            raise exceptions.AuthenticationFailed("Invalid API key.")
        now = timezone.now()
        if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > 60:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        return (None, api_key)

    def authenticate_header(self, request):
        return self.keyword


class SecretKeyScheme(OpenApiAuthenticationExtension):
    """Documents the secret key in the OpenAPI schema (``Authorization: Bearer <key>``)."""

    target_class = SecretKeyAuthentication
    name = "secretKey"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix=self.target.keyword
        )


class PublicTokenAuthentication(authentication.BaseAuthentication):
    """Public access tokens (JWT) on the routes that take them: ``Authorization: Bearer <jwt>``.

    ``request.auth`` becomes the verified token; each view checks its scopes.
    """

    def authenticate(self, request):
        from realtime_runs import tokens

        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or credential.startswith(KEY_PREFIX) or not credential:
            return None
        if not tokens.looks_like_jwt(credential):
            raise exceptions.AuthenticationFailed(
                "Invalid credentials: neither a secret API key nor a public access token."
            )
        return (None, tokens.verify(credential))

    def authenticate_header(self, request):
        return "Bearer"


class PublicTokenScheme(OpenApiAuthenticationExtension):
    target_class = PublicTokenAuthentication
    name = "publicAccessToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
