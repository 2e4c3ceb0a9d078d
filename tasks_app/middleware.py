"""Refuse a request body larger than REQUEST_MAX_BYTES before anything reads it; answer 503, not
500, when the database stays locked; show a logged-in person times in their own zone."""

import logging

from django.conf import settings
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from tasks_app.services import people

logger = logging.getLogger("tasks_app.db")


class RequestSizeLimitMiddleware:
    """A 413 for a body whose Content-Length is over REQUEST_MAX_BYTES, before Django parses it.

    Django's DATA_UPLOAD_MAX_MEMORY_SIZE leaves file data out, and FILE_UPLOAD_MAX_MEMORY_SIZE only
    moves a large upload to a temporary file: without this an import's size check runs once the
    whole file is on disk. Under WSGI a body is never read past its Content-Length (gunicorn
    takes care of chunked ones), so checking the header is enough.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django reads no body then either
        if length <= settings.REQUEST_MAX_BYTES:
            return self.get_response(request)
        message = (
            f"The request is too large ({filesizeformat(length)}); at most {filesizeformat(settings.REQUEST_MAX_BYTES)}"
            f" is accepted (a CSV import at most {filesizeformat(settings.IMPORT_MAX_BYTES)})."
        )
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": message}, status=413)
        return render(request, "tasks_app/request_too_large.html", {"message": message}, status=413)


class DatabaseBusyMiddleware:
    """A 503 with Retry-After when a write still cannot get SQLite's write lock, instead of a 500.

    SQLite's writers wait for its one write lock up to the busy timeout (SQLITE_BUSY_TIMEOUT), then
    fail with "database is locked". Nothing was written (the transaction is rolled back), so the
    client may simply try again.
    """

    RETRY_AFTER_SECONDS = 5
    MESSAGE = "The server is busy with other work and could not save this just now. Please try again in a few seconds."

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not (isinstance(exception, OperationalError) and "database is locked" in str(exception)):
            return None
        logger.warning("answered 503 to %s %s: %s", request.method, request.path, exception)
        if request.path.startswith("/api/"):
            response = JsonResponse({"detail": self.MESSAGE}, status=503)
        else:
            response = render(request, "tasks_app/busy.html", {"message": self.MESSAGE}, status=503)
        response["Retry-After"] = str(self.RETRY_AFTER_SECONDS)
        response._has_been_logged = True  # logged above, as a warning: no "Service Unavailable" error line
        return response


class PersonTimeZoneMiddleware:
    """Every page in the logged-in person's own time zone. The zone is read from their profile
    once per session and kept there, so a page costs no query for it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = request.session.get(people.SESSION_KEY)
        if zone is None and request.user.is_authenticated:
            zone = request.session[people.SESSION_KEY] = people.chosen_time_zone(request.user)
        if zone:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
