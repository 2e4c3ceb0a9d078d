"""Small helpers that make rows for tests."""

import itertools

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from tasks_app.models import Task

_numbers = itertools.count(1)


def make_user(username: str | None = None, *, staff: bool = False, **fields):
    username = username or f"user{next(_numbers)}"
    fields.setdefault("email", f"{username}@example.com")
    return get_user_model().objects.create_user(
        username, password="a-long-test-password", is_staff=staff, is_superuser=staff, **fields
    )


def make_task(owner, **fields) -> Task:
    fields.setdefault("title", f"Task {next(_numbers)}")
    fields.setdefault("created_by", owner)
    return Task.objects.create(owner=owner, **fields)


def api_client(user) -> APIClient:
    """A DRF test client logged in as `user`."""
    client = APIClient()
    client.force_authenticate(user)
    return client


def make_staff(username: str, *codenames: str):
    """A staff user who is not a superuser, holding only these permissions of tasks_app (by codename)."""
    user = make_user(username)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="tasks_app", codename__in=codenames))
    assert user.user_permissions.count() == len(codenames), "unknown permission codename"
    return get_user_model().objects.get(pk=user.pk)  # fresh: no permission cache
