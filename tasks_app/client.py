"""Who is calling: the client's address, the login lockout, the API's throttle, password-reset,
sign-up and mail limits."""

import hashlib
import math

from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_lockout_response
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from rest_framework.authentication import TokenAuthentication
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle

from tasks_app import rate_limits


def client_ip(request: HttpRequest) -> str:
    """The client's address: behind the TLS proxy (DJANGO_TLS_PROXY), the one it appended to X-Forwarded-For.

    Only the right-most entry is the proxy's own: those before it are whatever the client sent.
    """
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None) and forwarded:
        return forwarded.rsplit(",", 1)[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


class AtomicRateThrottle(SimpleRateThrottle):
    """DRF's throttle, counted by `rate_limits` (atomic across workers) instead of in the cache."""

    verdict = rate_limits.Verdict(True)

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.verdict = rate_limits.hit(self.key, self.num_requests, self.duration)
        return self.verdict.allowed

    def wait(self) -> float | None:
        return None if self.verdict.allowed else self.verdict.wait


class TokenRateThrottle(AtomicRateThrottle, UserRateThrottle):
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


class LoginLockoutHandler(AxesDatabaseHandler):
    """django-axes' lockout with two limits: LOGIN_FAILURE_LIMIT failures of one username from one
    client, or LOGIN_CLIENT_FAILURE_LIMIT failures from one client over any usernames (password
    spraying: a few guesses at each of many accounts).

    AXES_LOCKOUT_PARAMETERS lists the pair first, then the client. A successful login clears the
    pair's count only: logging in to one's own account does not clear a client's failures at others.
    """

    def get_failures(self, request, credentials=None) -> int:
        """The count django-axes compares with LOGIN_FAILURE_LIMIT: the pair's, or the limit
        itself once the client has reached its own."""
        pair, client = (
            attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        )
        if client >= settings.LOGIN_CLIENT_FAILURE_LIMIT:
            return max(pair, settings.AXES_FAILURE_LIMIT)
        return pair

    def reset_user_attempts(self, request, credentials=None) -> int:
        count, _ = self.filter_user_attempts(request, credentials)[0].delete()
        return count


def lockout_response(request: HttpRequest) -> HttpResponse | None:
    """The lockout page when the logged-in person is locked out (django-axes), else None: a page
    that asks for their password again checks this first."""
    credentials = {"username": request.user.get_username()}
    if AxesProxyHandler.is_locked(request, credentials):
        return get_lockout_response(request, credentials=credentials)
    return None


def count_wrong_password(request: HttpRequest) -> None:
    """A wrong password given by the logged-in person counts as a failed login (django-axes)."""
    user_login_failed.send(sender=__name__, credentials={"username": request.user.get_username()}, request=request)


class _KeyedThrottle(AtomicRateThrottle):
    """A throttle for a key of our own outside the API."""

    def __init__(self, scope: str, ident: str, rate: str):
        self.scope, self.ident, self.rate = scope, ident, rate
        super().__init__()

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.ident}


def password_reset_wait(request: HttpRequest, email: str) -> int:
    """Count one reset request against its client's (PASSWORD_RESET_CLIENT_RATE) and its address's
    (PASSWORD_RESET_EMAIL_RATE) limits: 0 when it may go, else the seconds until it may."""
    return _address_and_client_wait(
        request, email, "reset", settings.PASSWORD_RESET_EMAIL_RATE, settings.PASSWORD_RESET_CLIENT_RATE
    )


def signup_wait(request: HttpRequest, email: str) -> int:
    """The same for a sign-up (SIGNUP_EMAIL_RATE, SIGNUP_CLIENT_RATE)."""
    return _address_and_client_wait(request, email, "signup", settings.SIGNUP_EMAIL_RATE, settings.SIGNUP_CLIENT_RATE)


def _address_and_client_wait(request: HttpRequest, email: str, scope: str, email_rate: str, client_rate: str) -> int:
    """Count one request for `email` against the client's and the address's limits of `scope`.

    The address counts whether or not an account has it, so the answer never tells which exist;
    it is kept as a hash, not in the clear.
    """
    address = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    for kind, ident, rate in [("client", client_ip(request), client_rate), ("email", address, email_rate)]:
        throttle = _KeyedThrottle(f"{scope}-{kind}", ident, rate)
        if not throttle.allow_request(request, None):
            return math.ceil(throttle.wait() or 1)
    return 0


def mail_sender_allows(user) -> bool:
    """Count one mail caused by `user`'s action against MAIL_SENDER_RATE; False past it."""
    return _KeyedThrottle("mail-sender", str(user.pk), settings.MAIL_SENDER_RATE).allow_request(None, None)
