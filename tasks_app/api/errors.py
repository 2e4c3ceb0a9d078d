"""Service errors as API responses."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, ValidationError

from tasks_app.workflows.files import TooMuchInProgress


class TooManyInProgress(APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "too_many_in_progress"


@contextmanager
def service_errors_as_400() -> Iterator[None]:
    """A service's Django ValidationError becomes DRF's: a 400 with field messages, not a 500
    (the per-person limit on files in progress: a 429 with its message)."""
    try:
        yield
    except TooMuchInProgress as error:
        raise TooManyInProgress(error.messages[0]) from error
    except DjangoValidationError as error:
        raise ValidationError(serializers.as_serializer_error(error)) from error
