"""Schemathesis against the app's own OpenAPI schema, in-process, as a user with an API token.

Every operation, every check: no 5xx, and every response (status, headers, body, media type)
matches what `/api/schema/` promises. Derandomized and bounded here; `make fuzz` runs many more
examples with a fresh seed each time (FUZZ_EXAMPLES)."""

import json
import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token

from site_config.wsgi import application
from tests.factories import make_task, make_user

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))


def app_schema() -> schemathesis.BaseSchema:
    """The schema `/api/schema/` serves (it needs a login, so it is generated the same way here)."""
    document = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(public=True)))
    loaded = schemathesis.openapi.from_dict(document)
    loaded.app = application
    # Every text field refuses NUL with a 400 (no database stores it; tests/test_api.py checks it),
    # which a JSON schema cannot say for each string: generate none.
    loaded.config.generation.update(allow_x00=False)
    return loaded


schema = app_schema()


@pytest.fixture
def requests_keep_the_connection():
    """As Django's test client does: the end of a request must not close the database connection that
    holds the test's transaction (it would on PostgreSQL; SQLite's in-memory database ignores it)."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def fuzzer(db, requests_keep_the_connection):
    """A user with a few tasks of their own, so that some generated ids exist."""
    user = make_user("fuzzer")
    for title in ("first", "second", "third"):
        make_task(user, title=title)
    return user


def make_valid_beyond_the_schema(body: dict, user) -> None:
    """What no schema can say, in a valid request: an owner is an existing user; a range is in order."""
    if type(body.get("owner")) is int:
        body["owner"] = user.pk
    if body.get("date_from") and body.get("date_to"):
        body["date_from"], body["date_to"] = sorted([body["date_from"], body["date_to"]])


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize="FUZZ_EXAMPLES" not in os.environ,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)
def test_the_api_keeps_its_openapi_contract(case, fuzzer):
    if case.meta.generation.mode.is_positive and isinstance(case.body, dict):
        make_valid_beyond_the_schema(case.body, fuzzer)
    token = Token.objects.get_or_create(user=fuzzer)[0].key
    case.call_and_validate(headers={"Authorization": f"Token {token}"})
