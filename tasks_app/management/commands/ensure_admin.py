"""Make sure an admin account exists, so a fresh install can be logged into."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from tasks_app.management import command_line


class Command(BaseCommand):
    help = (
        "Create the admin user if missing. Takes DJANGO_ADMIN_USERNAME (default 'admin'), "
        "DJANGO_ADMIN_EMAIL and DJANGO_ADMIN_PASSWORD; without a password one is generated and printed once."
    )

    def handle(self, *args, **options) -> None:
        username = os.environ.get("DJANGO_ADMIN_USERNAME") or "admin"
        users = get_user_model().objects
        if users.filter(username=username).exists():
            self.stdout.write(
                f"  Log in as '{username}' with its password "
                f"(forgotten? run: {command_line(f'changepassword {username}')})."
            )
            return
        password = os.environ.get("DJANGO_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        users.create_superuser(username, os.environ.get("DJANGO_ADMIN_EMAIL", ""), password)
        if os.environ.get("DJANGO_ADMIN_PASSWORD"):
            self.stdout.write(f"  Log in as '{username}' with the password from DJANGO_ADMIN_PASSWORD.")
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"  Log in as '{username}' with the password: {password}\n"
                    "  It is shown only this once: keep it, or change it after logging in."
                )
            )
