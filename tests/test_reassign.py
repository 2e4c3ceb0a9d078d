"""Giving a task to someone else (issue 30): the new owner is told, the task's page says who gave
it, and an editor who can no longer see it lands on the list, told where it went."""

import pytest

from tasks_app.models import Notification, Task
from tests.factories import make_task, make_user

pytestmark = pytest.mark.django_db


def _edit(client, task, **changes):
    fields = {"title": task.title, "description": "", "status": task.status, "priority": task.priority}
    fields["owner"] = task.owner_id
    return client.post(f"/tasks/{task.pk}/edit/", {**fields, **changes}, follow=True)


def test_giving_a_task_tells_its_new_owner_and_the_page_says_who_gave_it(client, django_capture_on_commit_callbacks):
    admin, maria, jonas = make_user("admin"), make_user("maria"), make_user("jonas")
    task = make_task(maria, title="Quarterly plan", created_by=admin)
    client.force_login(maria)
    with django_capture_on_commit_callbacks(execute=True):
        response = _edit(client, task, owner=jonas.pk)
    assert response.redirect_chain[-1] == ("/", 302)  # maria may no longer see it: the list, not a 404
    assert "Saved “Quarterly plan”: it is now owned by jonas, who is told." in response.content.decode()
    notice = Notification.objects.get(user=jonas)
    assert notice.message == "maria gave you a task: Quarterly plan" and notice.data["task_id"] == task.pk
    client.force_login(jonas)
    page = client.get(f"/tasks/{task.pk}/").content.decode()
    assert "maria gave it to jonas" in page and "Tell the owner it was given to them" in page


def test_giving_it_back_tells_again_and_taking_it_for_oneself_tells_no_one(client, django_capture_on_commit_callbacks):
    maria, jonas = make_user("maria"), make_user("jonas")
    task = make_task(maria, title="Ping-pong")
    client.force_login(maria)
    with django_capture_on_commit_callbacks(execute=True):
        _edit(client, task, owner=jonas.pk)
    task.refresh_from_db()
    client.force_login(jonas)
    with django_capture_on_commit_callbacks(execute=True):
        response = _edit(client, task, owner=maria.pk)
    assert response.redirect_chain[-1] == ("/", 302)
    assert Notification.objects.filter(user=maria, kind=Notification.Kind.TASK_ASSIGNED).count() == 1
    lead = make_user("lead", staff=True)  # a superuser: sees every task
    client.force_login(lead)
    task.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        response = _edit(client, task, owner=lead.pk)
    assert response.redirect_chain[-1] == (f"/tasks/{task.pk}/", 302)  # still visible to the editor
    assert not Notification.objects.filter(user=lead).exists()  # taken, not given
    assert Task.objects.get(pk=task.pk).given_by == lead


def test_an_edit_that_keeps_the_owner_tells_no_one(client, django_capture_on_commit_callbacks):
    maria, jonas = make_user("maria"), make_user("jonas")
    task = make_task(jonas, title="Stay", created_by=maria)
    Notification.objects.all().delete()
    client.force_login(maria)
    with django_capture_on_commit_callbacks(execute=True):
        _edit(client, task, title="Stay, renamed")
    assert not Notification.objects.exists()
    assert Task.objects.get(pk=task.pk).given_at is None
