"""Sign-up and the password pages: Django's views, with our limits, lockout and mails."""

import math

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import PasswordChangeView, PasswordResetConfirmView, PasswordResetView
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from tasks_app import workflows
from tasks_app.client import count_wrong_password, lockout_response, password_reset_wait, signup_wait
from tasks_app.services import accounts
from tasks_app.web.forms import AccountCreateForm, SignUpForm


def _too_many(render_form, wait: int, what: str) -> HttpResponse:
    """The form again with a 429 and Retry-After, the wait in minutes."""
    minutes = math.ceil(wait / 60)
    response = render_form(
        f"Too many {what} from here or for this address. Try again in {minutes} minute{'s' if minutes != 1 else ''}."
    )
    response.status_code = 429
    response["Retry-After"] = str(wait)
    return response


@login_not_required
def signup(request: HttpRequest) -> HttpResponse:
    """The first step: mail the address the link that makes its account (or, for an address that
    has one, a note: the page says the same). Also "send the link again", from the sent page."""
    if not settings.SIGNUP_ENABLED:
        raise Http404("Sign-up is turned off; ask an administrator for an account.")
    if request.user.is_authenticated:
        return redirect("tasks:task-list")
    form = SignUpForm(request.POST or None)
    if request.method != "POST" or not form.is_valid():
        return render(request, "tasks_app/signup.html", {"form": form})
    address = form.cleaned_data["email"]
    if wait := signup_wait(request, address):

        def render_form(message: str) -> HttpResponse:
            form.add_error(None, message)
            return render(request, "tasks_app/signup.html", {"form": form})

        return _too_many(render_form, wait, "sign-ups")
    workflows.signup_start(
        address,
        link_for=lambda token: request.build_absolute_uri(reverse("tasks:signup-verify", args=[token])),
        reset_url=request.build_absolute_uri(reverse("password_reset")),
    )
    link_days = settings.PASSWORD_RESET_TIMEOUT // 86400  # the token's life (Django's reset timeout)
    return render(request, "tasks_app/signup_sent.html", {"email": address, "link_days": link_days})


@login_not_required
def signup_verify(request: HttpRequest, token: str) -> HttpResponse:
    """The second step, the link of the sign-up mail: whoever reads the mailbox chooses the
    username and the password, and is logged in. The password is hashed before the write."""
    address = accounts.signup_address(token)
    if address is None:
        return render(request, "tasks_app/signup_verify.html", {"invalid": True}, status=400)
    if accounts.user_with_address(address) is not None:
        return render(request, "tasks_app/signup_verify.html", {"taken": True}, status=409)
    # The address is the account's before the form checks the password (not too like the address).
    form = AccountCreateForm(request.POST or None, instance=get_user_model()(email=address))
    if request.method != "POST" or not form.is_valid():
        return render(request, "tasks_app/signup_verify.html", {"form": form, "address": address})
    user = form.save(commit=False)  # hashes the password, outside any transaction
    try:
        created = accounts.account_create(user)
    except IntegrityError:  # the username was taken between the form's check and the write
        form.add_error("username", "A user with that username already exists.")
        return render(request, "tasks_app/signup_verify.html", {"form": form, "address": address})
    if not created:
        return render(request, "tasks_app/signup_verify.html", {"taken": True}, status=409)
    workflows.welcome_email_start(user)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    messages.success(request, f"Welcome, {user.username}! Your account is ready.")
    return redirect("tasks:task-list")


class PasswordChange(PasswordChangeView):
    """Django's password change, under the login lockout: a wrong old password counts as a failed
    login (django-axes), and a person locked out cannot try the old password here either. A
    change revokes the person's API tokens and mails them so."""

    def post(self, request, *args, **kwargs):
        return lockout_response(request) or super().post(request, *args, **kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)
        revoked = workflows.password_changed(
            form.user, reset_url=self.request.build_absolute_uri(reverse("password_reset"))
        )
        if revoked:
            messages.info(
                self.request, f"Your API token{'s' if revoked != 1 else ''} ({revoked}) no longer work: make new ones."
            )
        return response

    def form_invalid(self, form):
        if form.has_error("old_password"):
            count_wrong_password(self.request)
        return super().form_invalid(form)


class PasswordReset(PasswordResetView):
    """Django's password reset page, limited per requested address and per client (429 with the
    form). The mail is made and sent by a job, the same for a known address and an unknown one."""

    def form_valid(self, form) -> HttpResponse:
        address = form.cleaned_data["email"]
        if wait := password_reset_wait(self.request, address):

            def render_form(message: str) -> HttpResponse:
                form.add_error(None, message)
                return self.render_to_response(self.get_context_data(form=form))

            return _too_many(render_form, wait, "password reset requests")
        workflows.password_reset_start(address, base_url=self.request.build_absolute_uri("/"))
        return redirect(self.get_success_url())


class PasswordResetConfirm(PasswordResetConfirmView):
    """Django's page that sets a new password from a reset link; it revokes the person's API
    tokens and mails them so, as a change does."""

    def form_valid(self, form):
        response = super().form_valid(form)
        workflows.password_changed(form.user, reset_url=self.request.build_absolute_uri(reverse("password_reset")))
        return response
