"""Refuse a request body larger than REQUEST_MAX_BYTES before anything reads it."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat


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
