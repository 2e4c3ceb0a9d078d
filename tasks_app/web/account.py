"""The account page: name, email address (changed once the new one is confirmed), a link to the
password change, personal API tokens."""

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from tasks_app import workflows
from tasks_app.client import count_wrong_password, lockout_response
from tasks_app.models import PersonalToken
from tasks_app.services import accounts, people
from tasks_app.web.account_forms import EmailChangeForm, NameForm, TimeZoneForm, TokenForm
from tasks_app.web.forms import add_service_errors


def _account_page(request: HttpRequest, *, status: int = 200, **context) -> HttpResponse:
    """The page with blank forms but for those given (bound, showing their errors)."""
    user = request.user
    context = {
        "name_form": NameForm(instance=user),
        "time_zone_form": TimeZoneForm(initial={"time_zone": people.time_zone_of(user)}),
        "time_zone_list": people.time_zone_list(),
        "email_form": EmailChangeForm(user=user),
        "token_form": TokenForm(user=user),
        "pending": accounts.email_change_pending(user),
        "tokens": user.personal_tokens.all(),
        "tokens_max": accounts.TOKENS_PER_PERSON,
        **context,
    }
    return render(request, "tasks_app/account/detail.html", context, status=status)


NEW_TOKEN_KEY = "account:new-token"


@never_cache
@require_GET
def account_detail(request: HttpRequest) -> HttpResponse:
    """The page; right after a token is made, with its secret, this once."""
    new_token, new_secret = None, None
    if made := request.session.pop(NEW_TOKEN_KEY, None):
        new_token = request.user.personal_tokens.filter(pk=made[0]).first()
        new_secret = made[1] if new_token else None
    return _account_page(request, new_token=new_token, new_secret=new_secret)


@require_POST
def name_change(request: HttpRequest) -> HttpResponse:
    form = NameForm(request.POST, instance=request.user)
    if not form.is_valid():
        return _account_page(request, name_form=form)
    form.save()
    messages.success(request, "Your name is saved.")
    return redirect("account:account-detail")


@require_POST
def time_zone_change(request: HttpRequest) -> HttpResponse:
    """Save the person's time zone: from the account page, or from the first page they open (the
    browser's zone, sent by app.js, answered with 204)."""
    form = TimeZoneForm(request.POST)
    sent_by_the_page = request.headers.get("X-Time-Zone-From") == "browser"
    if not form.is_valid():
        if sent_by_the_page:
            return HttpResponse(status=400)
        return _account_page(request, time_zone_form=form)
    zone = people.time_zone_set(request.user, form.cleaned_data["time_zone"])
    request.session[people.SESSION_KEY] = zone
    if sent_by_the_page:
        return HttpResponse(status=204)
    messages.success(request, f"Times are shown in {zone} now.")
    return redirect("account:account-detail")


def _with_password(request: HttpRequest, form_class, name: str):
    """(the valid form, None), or (None, the answer): the lockout page, or the account page with
    the form's errors; a wrong password counts as a failed login."""
    if locked_out := lockout_response(request):
        return None, locked_out
    form = form_class(request.POST, user=request.user)
    if form.is_valid():
        return form, None
    if form.has_error("password"):
        count_wrong_password(request)
    return None, _account_page(request, **{name: form})


@require_POST
def email_change(request: HttpRequest) -> HttpResponse:
    """Start an address change; the password it asks for is under the login lockout."""
    form, refused = _with_password(request, EmailChangeForm, "email_form")
    if refused:
        return refused
    address = form.cleaned_data["email"]
    started = workflows.email_change_start(
        request.user,
        address,
        link_for=lambda mail_id, token: request.build_absolute_uri(
            reverse("account:email-confirm", args=[mail_id, token])
        ),
    )
    if not started:
        form.add_error("email", "Your account has sent too many mails lately; try again later.")
        return _account_page(request, email_form=form, status=429)
    messages.success(request, f"We mailed a link to {address}: it becomes your address once you open it.")
    return redirect("account:account-detail")


def email_confirm(request: HttpRequest, mail_id: int, token: str) -> HttpResponse:
    """The link of the address-change mail: a button that saves the address (a link checker that
    opens the link changes nothing). Only for the account that asked, logged in."""
    mail = accounts.email_change_to_confirm(request.user, mail_id, token)
    if mail is None:
        return render(request, "tasks_app/account/email_confirm.html", {"invalid": True}, status=400)
    if request.method != "POST":
        return render(request, "tasks_app/account/email_confirm.html", {"mail": mail})
    old_address = request.user.email
    if not accounts.email_change_confirm(request.user, mail):
        return render(request, "tasks_app/account/email_confirm.html", {"taken": True}, status=409)
    workflows.email_changed(
        request.user,
        old_address=old_address,
        undo_link_for=lambda token: request.build_absolute_uri(reverse("account:email-undo", args=[token])),
    )
    messages.success(request, f"Your address is now {mail.to}. We told {old_address or 'your old address'} too.")
    return redirect("account:account-detail")


@login_not_required
def email_undo(request: HttpRequest, token: str) -> HttpResponse:
    """The link mailed to the old address after a change ("this was not me"): a button that
    gives the account that address back, ends its sessions, revokes its tokens and mails the old
    address a link to set a new password."""
    found = accounts.email_to_undo(token)
    if found is None:
        return render(request, "tasks_app/account/email_undo.html", {"invalid": True}, status=400)
    user, old_address = found
    if request.method != "POST":
        return render(request, "tasks_app/account/email_undo.html", {"account": user, "old_address": old_address})
    if not accounts.email_undo(user, old_address):
        return render(request, "tasks_app/account/email_undo.html", {"taken": True}, status=409)
    workflows.password_reset_start(old_address, base_url=request.build_absolute_uri("/"))
    return render(request, "tasks_app/account/email_undo.html", {"done": True, "old_address": old_address})


@never_cache
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    """Make a personal API token; the password it asks for is under the login lockout."""
    form, refused = _with_password(request, TokenForm, "token_form")
    if refused:
        return refused
    try:
        token, secret = accounts.token_create(request.user, form.cleaned_data["name"])
    except ValidationError as error:
        add_service_errors(form, error)
        return _account_page(request, token_form=form)
    # Shown once by the page the redirect leads to, which takes it out of the session; a reload
    # of that page makes no second token.
    request.session[NEW_TOKEN_KEY] = [token.pk, secret]
    return redirect("account:account-detail")


@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(PersonalToken, pk=pk, user=request.user)
    token.delete()
    messages.success(request, f"Revoked the token “{token.name}”: it no longer works.")
    return redirect("account:account-detail")
