"""Who is calling: the client's address, the login lockout, the API's throttle, password-reset limits."""

import hashlib
import math

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.http import HttpRequest
from rest_framework.authentication import TokenAuthentication
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle


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


class _KeyedThrottle(SimpleRateThrottle):
    """DRF's sliding-window count in the shared cache, for a key of our own outside the API."""

    def __init__(self, scope: str, ident: str, rate: str):
        self.scope, self.ident, self.rate = scope, ident, rate
        super().__init__()

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.ident}


def password_reset_wait(request: HttpRequest, email: str) -> int:
    """Count one reset request against its client's (PASSWORD_RESET_CLIENT_RATE) and its address's
    (PASSWORD_RESET_EMAIL_RATE) limits: 0 when it may go, else the seconds until it may.

    The address counts whether or not an account has it, so the answer never tells which exist;
    it is kept as a hash, not in the clear.
    """
    address = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    for scope, ident, rate in [
        ("reset-client", client_ip(request), settings.PASSWORD_RESET_CLIENT_RATE),
        ("reset-email", address, settings.PASSWORD_RESET_EMAIL_RATE),
    ]:
        throttle = _KeyedThrottle(scope, ident, rate)
        if not throttle.allow_request(request, None):
            return math.ceil(throttle.wait() or 1)
    return 0
