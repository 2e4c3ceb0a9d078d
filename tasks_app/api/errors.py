"""Service errors as API responses."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.exceptions import ValidationError


@contextmanager
def service_errors_as_400() -> Iterator[None]:
    """A service's Django ValidationError becomes DRF's: a 400 with field messages, not a 500."""
    try:
        yield
    except DjangoValidationError as error:
        raise ValidationError(serializers.as_serializer_error(error)) from error
