"""The API's OpenAPI schema: drf-spectacular's, plus the errors each operation really answers with."""

from drf_spectacular import openapi
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


VALIDATION_ERRORS = {
    "type": "object",
    "description": "Messages by field name (`non_field_errors` for the input as a whole; `detail` when the "
    "request cannot be read at all).",
    "additionalProperties": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
}

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def conflict(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description)


def file_download(*media_types: str) -> dict:
    """A download's 200 in each media type it comes in, and its 409 while the file is not ready."""
    return {
        **{(200, media_type): OpenApiResponse(OpenApiTypes.BINARY, "The file.") for media_type in media_types},
        409: conflict("Not ready: still waiting or building, or it failed or was canceled."),
    }


BAD_INPUT = OpenApiResponse(VALIDATION_ERRORS, "Bad input: a message per field.")
NOT_LOGGED_IN = OpenApiResponse(ErrorSerializer, "No valid token or session.")
FORBIDDEN = OpenApiResponse(
    ErrorSerializer,
    "Not allowed: staff only, a permission acting on someone else's object needs, or a session call without "
    "its CSRF token.",
)
NOT_FOUND = OpenApiResponse(ErrorSerializer, "No such object of yours (other people's are 404 too), or no such page.")
UNSUPPORTED = OpenApiResponse(ErrorSerializer, "A body in another media type than the one documented.")
THROTTLED = OpenApiResponse(ErrorSerializer, "Too many calls with this token (API_TOKEN_RATE); see Retry-After.")


class AutoSchema(openapi.AutoSchema):
    """Adds to each operation the error responses DRF gives for it, so the schema lists every status code.

    401 and 429 for every call (a token is needed; calls with one are throttled); 400 for an operation
    that reads a body or query parameters, and 415 for a body in another media type; 403 for a write
    (a session call without its CSRF token) or a permission beyond a login; 404 for an object in the
    path or a page past the end."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, body in self.error_responses().items():
            if code not in responses:
                responses[code] = self._get_response_for_code(body, code, direction=direction)
        return dict(sorted(responses.items()))

    def error_responses(self) -> dict:
        paginated = self._is_list_view() and self._get_paginator() is not None
        errors = {"401": NOT_LOGGED_IN, "429": THROTTLED}
        writes = self.method not in ("GET", "HEAD", "OPTIONS")
        reads_a_body = writes and self.get_request_serializer() is not None
        if reads_a_body or self._get_filter_parameters() or paginated:
            errors["400"] = BAD_INPUT
        if reads_a_body:
            errors["415"] = UNSUPPORTED
        if writes or any(not isinstance(check, IsAuthenticated) for check in self.view.get_permissions()):
            errors["403"] = FORBIDDEN
        if "{" in self.path or paginated:
            errors["404"] = NOT_FOUND
        return errors
