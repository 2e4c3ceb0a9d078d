"""tasks_app.auth.OneQueryPermissions: the same permissions as Django's ModelBackend, in one query."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tasks_app import permissions
from tasks_app.auth import OneQueryPermissions
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def permission(codename: str) -> Permission:
    return Permission.objects.get(content_type__app_label="tasks_app", codename=codename)


def fresh(user):
    """The user as a request loads it: nothing cached on it yet."""
    return get_user_model().objects.get(pk=user.pk)


@pytest.fixture
def people(db):
    editors = Group.objects.create(name="editors")
    editors.permissions.add(permission("change_task"), permission("view_all_jobs"))
    both = make_user("both")
    both.user_permissions.add(permission("delete_task"), permission("view_all_jobs"))
    both.groups.add(editors)
    grouped = make_user("grouped")
    grouped.groups.add(editors)
    own = make_user("own")
    own.user_permissions.add(permission("manage_jobs"))
    left = make_user("left")
    left.user_permissions.add(permission("manage_jobs"))
    left.is_active = False
    left.save()
    return [make_user("nobody"), own, grouped, both, left, make_user("root", staff=True)]


def test_a_person_holds_the_same_permissions_as_model_backend_gives(people):
    for user in people:
        assert OneQueryPermissions().get_all_permissions(fresh(user)) == ModelBackend().get_all_permissions(
            fresh(user)
        ), user.username


def test_a_check_reads_the_permissions_once_whatever_it_answers(people):
    nobody, own, grouped, both = (fresh(user) for user in people[:4])
    with CaptureQueriesContext(connection) as captured:
        assert not nobody.has_perm(permissions.CHANGE_OTHERS_TASKS)  # asked of both backends
        assert not nobody.has_perm(permissions.MANAGE_JOBS)
    assert len(captured) == 1
    assert own.has_perm(permissions.MANAGE_JOBS) and not own.has_perm(permissions.CHANGE_OTHERS_TASKS)
    assert grouped.has_perm(permissions.CHANGE_OTHERS_TASKS) and not grouped.has_perm(permissions.DELETE_OTHERS_TASKS)
    assert both.has_perms([permissions.CHANGE_OTHERS_TASKS, permissions.DELETE_OTHERS_TASKS, permissions.VIEW_ALL_JOBS])
    assert both.has_module_perms("tasks_app") and not fresh(people[0]).has_module_perms("tasks_app")


def test_it_logs_no_one_in(client, people):
    assert OneQueryPermissions().authenticate(None, username="own", password="a-long-test-password") is None
    assert client.login(username="own", password="a-long-test-password")
    assert client.session["_auth_user_backend"] == "django.contrib.auth.backends.ModelBackend"
