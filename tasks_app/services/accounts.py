"""Accounts made by sign-up: inactive until their owner opens the link mailed to the address.

The link carries Django's token (the password reset's generator, salted for sign-up). The token
hashes the account's `is_active`, so it works once: after activation it no longer matches.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.db import transaction
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode


class SignUpTokenGenerator(PasswordResetTokenGenerator):
    key_salt = "tasks_app.services.accounts.SignUpTokenGenerator"

    def _make_hash_value(self, user, timestamp) -> str:
        return f"{user.pk}{user.password}{user.is_active}{timestamp}"


signup_token = SignUpTokenGenerator()


def user_with_address(email: str):
    """The account holding this address, whatever its case (active or waiting), or None."""
    return get_user_model().objects.filter(email__iexact=email.strip()).order_by("-is_active", "pk").first()


def signup_link_parts(user) -> tuple[str, str]:
    """(uidb64, token) of the link that activates `user`."""
    return urlsafe_base64_encode(force_bytes(user.pk)), signup_token.make_token(user)


def account_to_activate(uidb64: str, token: str):
    """The inactive account the link names when its token is good; else None."""
    try:
        pk = force_str(urlsafe_base64_decode(uidb64))
        user = get_user_model().objects.get(pk=pk, is_active=False)
    except (ValueError, OverflowError, get_user_model().DoesNotExist):
        return None
    return user if signup_token.check_token(user, token) else None


def account_activate(user) -> bool:
    """Activate `user`; False when another account took the address meanwhile (two sign-ups at once)."""
    with transaction.atomic():
        taken = get_user_model().objects.filter(email__iexact=user.email, is_active=True).exclude(pk=user.pk)
        if taken.exists():
            return False
        user.is_active = True
        user.save(update_fields=["is_active"])
    return True
