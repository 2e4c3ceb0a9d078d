"""An "Export failed" notice, and the end of accounts that sign-up made before its link was opened.

Earlier versions made an inactive account at sign-up, with the username and password typed
there, and the link activated it: someone could prepare an account for another person's address
with a password they knew (issue 29). Sign-up now makes no account until its link is opened, so
the accounts those versions made and no one ever confirmed are removed: inactive, never logged
in, and written a sign-up mail (an address change's mail has a dedup_key; a sign-up's has none).
Their addresses can sign up again.
"""

from django.conf import settings
from django.db import migrations, models


def remove_unconfirmed_signups(apps, schema_editor):
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    Email = apps.get_model("tasks_app", "Email")
    made_by_signup = Email.objects.filter(kind="signup", dedup_key__isnull=True, user__isnull=False).values("user_id")
    User.objects.filter(is_active=False, last_login__isnull=True, pk__in=made_by_signup).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("tasks_app", "0019_task_references"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="notification",
            name="kind",
            field=models.CharField(
                choices=[
                    ("task_assigned", "Task assigned"),
                    ("task_overdue", "Task overdue"),
                    ("job_failed", "Background job failed"),
                    ("broadcast", "Announcement"),
                    ("report_ready", "Report ready"),
                    ("import_done", "Import finished"),
                    ("export_ready", "Export ready"),
                    ("export_failed", "Export failed"),
                ],
                max_length=30,
            ),
        ),
        migrations.RunPython(remove_unconfirmed_signups, migrations.RunPython.noop),
    ]
