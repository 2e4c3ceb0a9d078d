"""What a person chose for themselves beyond Django's User."""

from django.conf import settings
from django.db import models


class Profile(models.Model):
    """A person's time zone: the pages and their mails show times in it ("" until chosen: the
    browser's is saved on the first page they open, TIME_ZONE until then)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="profile"
    )
    time_zone = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return f"{self.user_id}: {self.time_zone or 'no time zone'}"
