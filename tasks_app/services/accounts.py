"""Accounts: sign-up (an account is made from the link mailed to its address), the account page's
address change (confirmed the same way) and personal API tokens, and what a password change revokes."""

import datetime
import hashlib
import secrets
import uuid
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from rest_framework.authtoken.models import Token

from tasks_app.models import Email, PersonalToken


def user_with_address(email: str):
    """The account holding this address, whatever its case (active or not), or None."""
    return get_user_model().objects.filter(email__iexact=email.strip()).order_by("-is_active", "pk").first()


# -- Sign-up: the link mailed to an address is what makes an account ------------------------------
#
# No account exists before its address's owner opens the link and chooses a username and a
# password there: nobody can prepare an account for someone else's address, and the only
# password an account ever has is the one chosen by whoever reads that mailbox.

SIGNUP_SALT = "tasks_app.services.accounts.signup"


def signup_token(address: str) -> str:
    """The token of the link that lets `address` make an account (signed, with its time)."""
    return signing.dumps(address.strip(), salt=SIGNUP_SALT, compress=True)


def signup_address(token: str) -> str | None:
    """The address a sign-up link's token was made for, while it is good (PASSWORD_RESET_TIMEOUT); else None."""
    try:
        return signing.loads(token, salt=SIGNUP_SALT, max_age=settings.PASSWORD_RESET_TIMEOUT)
    except signing.BadSignature:  # a forged, mangled or expired token
        return None


def account_create(user) -> bool:
    """Save a new, active account whose password is already set (hashed outside this write);
    False when another account took the address meanwhile (two links of one address at once)."""
    with transaction.atomic():
        if user_with_address(user.email) is not None:
            return False
        user.is_active = True
        user.save()
    return True


# -- Address change: the new address is saved once its owner opens the link mailed to it ---------

# The mail is the request: its dedup_key starts so, its `to` is the new address, its `user` the account.
# Its kind is sign-up's, a mail that confirms an address, so its body (the link) is not kept once sent.
EMAIL_CHANGE_KEY = "email-change:"
EMAIL_CHANGE_USED_KEY = "email-change-used:"  # a request once confirmed: no longer pending


class EmailChangeTokenGenerator(PasswordResetTokenGenerator):
    """Tokens of address-change mails, made for the mail's row rather than an account. The token
    hashes the account's address, so it works once: after the change that address is another."""

    key_salt = "tasks_app.services.accounts.EmailChangeTokenGenerator"

    def _make_hash_value(self, mail, timestamp) -> str:
        return f"{mail.pk}{mail.to}{mail.user_id}{mail.user.email}{timestamp}"


email_change_token = EmailChangeTokenGenerator()


def email_change_mail(user, address: str, link_for: Callable[[int, str], str]) -> Email:
    """Write the mail asking `address` to confirm it as `user`'s new address; it replaces any
    request before it (only the latest one's link works)."""
    mail = Email.objects.create(
        kind=Email.Kind.SIGNUP,
        to=address,
        subject="",
        body="",
        user=user,
        dedup_key=f"{EMAIL_CHANGE_KEY}{uuid.uuid4().hex}",
    )
    context = {
        "user": user,
        "address": address,
        "link": link_for(mail.pk, email_change_token.make_token(mail)),
        "link_days": settings.PASSWORD_RESET_TIMEOUT // 86400,
    }
    mail.subject = " ".join(render_to_string("tasks_app/email/email_change_subject.txt", context).split())
    mail.body = render_to_string("tasks_app/email/email_change_body.txt", context)
    mail.save(update_fields=["subject", "body"])
    return mail


def email_change_pending(user) -> Email | None:
    """`user`'s latest address-change request while its link still works (not used, not expired)."""
    mail = Email.objects.filter(user=user, dedup_key__startswith=EMAIL_CHANGE_KEY).first()
    if mail is None or mail.to.lower() == user.email.lower():
        return None
    expires = mail.created_at + datetime.timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT)
    return mail if timezone.now() < expires else None


def email_change_to_confirm(user, mail_id: int, token: str) -> Email | None:
    """The request a link names when it is `user`'s pending one and the token is good; else None."""
    mail = email_change_pending(user)
    if mail is None or mail.pk != mail_id or not email_change_token.check_token(mail, token):
        return None
    return mail


def email_change_confirm(user, mail: Email) -> bool:
    """Give `user` the request's address and mark the request used (its link never works again,
    even once the address is the old one again: undone, or set back by an admin); False when
    another account took the address meanwhile."""
    with transaction.atomic():
        holder = user_with_address(mail.to)
        if holder is not None and holder.pk != user.pk:
            return False
        user.email = mail.to
        user.save(update_fields=["email"])
        Email.objects.filter(pk=mail.pk).update(dedup_key=f"{EMAIL_CHANGE_USED_KEY}{uuid.uuid4().hex}")
    return True


# The old address is told of a change, with a link that takes the account back ("this was not me").
EMAIL_UNDO_SALT = "tasks_app.services.accounts.email_undo"
EMAIL_UNDO_DAYS = 30


def email_undo_token(user, old_address: str) -> str:
    """The token of the link, mailed to `old_address`, that undoes the change to `user`'s current address."""
    return signing.dumps([user.pk, old_address, user.email], salt=EMAIL_UNDO_SALT, compress=True)


def email_to_undo(token: str) -> tuple | None:
    """(account, old address) of a good undo link while the account still has the address it
    names as the new one; else None (forged, expired, or undone already)."""
    try:
        pk, old, new = signing.loads(token, salt=EMAIL_UNDO_SALT, max_age=EMAIL_UNDO_DAYS * 86400)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    user = get_user_model().objects.filter(pk=pk, email__iexact=new).first()
    return (user, old) if user is not None else None


def email_undo(user, old_address: str) -> bool:
    """Take the account back for `old_address`: that address again, a random password (which ends
    every session) and no API tokens; False when another account has taken the old address."""
    user.set_password(secrets.token_urlsafe(32))  # hashed before the write: nobody knows this one
    with transaction.atomic():
        holder = user_with_address(old_address)
        if holder is not None and holder.pk != user.pk:
            return False
        user.email = old_address
        user.save(update_fields=["email", "password"])
        tokens_revoke_all(user)
    return True


# -- Personal API tokens: made by their owner, kept as a hash ------------------------------------

TOKEN_PREFIX = "tt_"  # tells a personal token from DRF's own (40 hex digits) on sight
TOKENS_PER_PERSON = 20
TOKEN_USE_INTERVAL = datetime.timedelta(minutes=1)  # last use is written at most this often


def token_hash(secret: str) -> str:
    # A random 256-bit secret needs no slow, salted hash: nothing can be guessed from its sha256.
    return hashlib.sha256(secret.encode()).hexdigest()


def token_create(user, name: str) -> tuple[PersonalToken, str]:
    """Make a personal API token for `user`; return it and its secret, which is kept nowhere.
    ValidationError once the person has TOKENS_PER_PERSON, or one of that name."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        get_user_model().objects.select_for_update().get(pk=user.pk)  # one person's creations in turn
        if PersonalToken.objects.filter(user=user).count() >= TOKENS_PER_PERSON:
            raise ValidationError(
                f"You already have {TOKENS_PER_PERSON} tokens, the most one person may have: revoke one first."
            )
        if PersonalToken.objects.filter(user=user, name__iexact=name.strip()).exists():
            raise ValidationError(
                {"name": f"You already have a token named “{name.strip()}”: give this one another name."}
            )
        token = PersonalToken.objects.create(
            user=user, name=name.strip(), key_hash=token_hash(secret), prefix=secret[:10]
        )
    return token, secret


def tokens_revoke_all(user) -> int:
    """Delete every API token of `user`, personal and DRF's (made by an admin): after a password
    change or reset, a token made with a stolen session or password stops working. Returns how many."""
    personal, _ = PersonalToken.objects.filter(user=user).delete()
    admin_made, _ = Token.objects.filter(user=user).delete()
    return personal + admin_made


def token_used(secret: str) -> PersonalToken | None:
    """The personal token of `secret` (with its user), or None; its last use is written when the
    one on record is older than TOKEN_USE_INTERVAL, so a busy token does not write each call."""
    token = PersonalToken.objects.select_related("user").filter(key_hash=token_hash(secret)).first()
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= TOKEN_USE_INTERVAL:
        PersonalToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
