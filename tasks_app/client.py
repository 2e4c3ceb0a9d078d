"""Who is calling: the client's address, the login lockout and the API's throttle."""

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.http import HttpRequest
from rest_framework.authentication import TokenAuthentication
from rest_framework.throttling import UserRateThrottle


def client_ip(request: HttpRequest) -> str:
    """The client's address: behind the TLS proxy (DJANGO_TLS_PROXY), the one it appended to X-Forwarded-For.

    Only the right-most entry is the proxy's own: those before it are whatever the client sent.
    """
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None) and forwarded:
        return forwarded.rsplit(",", 1)[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


class TokenRateThrottle(UserRateThrottle):
    """API_TOKEN_RATE calls per user of an API token; calls with a session (the web pages) are not counted."""

    scope = "token"

    def get_rate(self) -> str:
        return settings.API_TOKEN_RATE

    def get_cache_key(self, request, view) -> str | None:
        if not isinstance(request.successful_authenticator, TokenAuthentication):
            return None
        return super().get_cache_key(request, view)


class LoginLockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout, for logins that come with a request (every web login does).

    A call without one (a shell's or the test client's `authenticate()`) has no client to lock
    out; django-axes would refuse it.
    """

    def authenticate(self, request=None, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
