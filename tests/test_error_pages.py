"""Error pages in the site's layout, each with a way back (issue 30)."""

import pytest
from django.test import Client
from django.urls import include, path

from tests.factories import make_staff, make_task, make_user

pytestmark = pytest.mark.django_db


def _boom(request):
    raise RuntimeError("a bug")


urlpatterns = [path("boom/", _boom), path("", include("site_config.urls"))]


def _in_the_layout(response) -> str:
    body = response.content.decode()
    assert 'class="site-header"' in body and 'href="/"' in body, body
    return body


def test_a_missing_page_is_404_in_the_layout_with_a_link_back(client, alice):
    client.force_login(alice)
    response = client.get("/tasks/999999/")
    assert response.status_code == 404
    body = _in_the_layout(response)
    assert "<h1>Not found</h1>" in body and "Back to your tasks" in body
    assert 'href="/account/"' in body  # the person's own header, logged in


def test_an_action_one_may_not_take_is_403_in_the_layout_with_its_reason(client, alice):
    lead = make_staff("lead", "change_task")  # may see alice's task, not delete it
    client.force_login(lead)
    response = client.post(f"/tasks/{make_task(alice).pk}/delete/")
    assert response.status_code == 403
    body = _in_the_layout(response)
    assert "Only its owner, or someone with the permission, may do this." in body


def test_a_form_without_its_csrf_token_is_403_in_the_layout():
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("bob"))
    response = client.post("/account/name/", {"first_name": "Bob"})
    assert response.status_code == 403
    assert "The form expired" in _in_the_layout(response)


def test_a_server_error_is_500_in_the_layout(settings, alice):
    settings.ROOT_URLCONF = __name__
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    response = client.get("/boom/")
    assert response.status_code == 500
    assert "Something went wrong" in _in_the_layout(response)
