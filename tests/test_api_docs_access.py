"""The OpenAPI schema and its docs answer logged-in users only (API_DOCS_PUBLIC opens them)."""

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

URLS = ["/api/schema/", "/api/docs/"]


@pytest.mark.parametrize("url", URLS)
def test_the_schema_and_docs_need_a_login(url):
    assert APIClient().get(url).status_code in (401, 403)


@pytest.mark.parametrize("url", URLS)
def test_a_logged_in_user_reads_them(api, url):
    assert api.get(url).status_code == 200
