"""The web UI's forms: tasks, sign-up, password reset, reports and imports."""

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.db.models import F, Q

from tasks_app.api.filters import PRIORITY_RANK
from tasks_app.models import Report, Task, TaskImport
from tasks_app.search import SEARCH_MAX_LENGTH, validate_search
from tasks_app.services import imports


class TaskForm(forms.ModelForm):
    class Meta:
        model = Task
        fields = ["title", "description", "owner", "status", "priority", "due_date"]
        widgets = {
            "due_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "description": forms.Textarea(attrs={"rows": 4}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")


# The task list's orders ("-": descending); ties go newest first so that pages stay stable.
TASK_SORTS = {
    "due": [F("due_date").asc(nulls_last=True), "-id"],  # no due date: last either way
    "-due": [F("due_date").desc(nulls_last=True), "-id"],
    "priority": [PRIORITY_RANK.asc(), "-id"],  # low, normal, high: by rank, not alphabetically
    "-priority": [PRIORITY_RANK.desc(), "-id"],
    "created": ["created_at", "id"],
    "-created": ["-created_at", "-id"],
}
DEFAULT_SORT = "-created"


class TaskFilterForm(forms.Form):
    """The task list's search, filters and order; invalid values are ignored rather than failing the page."""

    q = forms.CharField(required=False, max_length=SEARCH_MAX_LENGTH, validators=[validate_search], label="Search")
    status = forms.ChoiceField(choices=[("", "Any status"), *Task.Status.choices], required=False)
    overdue = forms.BooleanField(required=False)
    mine = forms.BooleanField(required=False)
    sort = forms.ChoiceField(choices=[(sort, sort) for sort in TASK_SORTS], required=False)

    def tasks(self, queryset, user):
        """`queryset` searched (every word, in the title or the description, any case), filtered and
        sorted as asked; an invalid value drops only its own part."""
        self.is_valid()
        wanted = self.cleaned_data
        for word in wanted.get("q", "").split():
            queryset = queryset.filter(Q(title__icontains=word) | Q(description__icontains=word))
        if wanted.get("status"):
            queryset = queryset.filter(status=wanted["status"])
        if wanted.get("overdue"):
            queryset = queryset.overdue()
        if wanted.get("mine"):
            queryset = queryset.filter(owner=user)
        return queryset.order_by(*TASK_SORTS[self.ordering()])

    def ordering(self) -> str:
        """The sort asked for, or the default (newest first)."""
        return self.cleaned_data.get("sort") or DEFAULT_SORT


class SignUpForm(forms.Form):
    """The first step of a sign-up: an address, to which the link that makes the account is mailed."""

    email = forms.EmailField(
        label="Email address",
        max_length=254,
        help_text="We mail it a link; you choose your username and password there.",
    )

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        allowed = settings.SIGNUP_ALLOWED_DOMAINS
        if allowed and email.rsplit("@", 1)[-1].lower() not in allowed:
            raise forms.ValidationError(f"Sign-up takes addresses at {', '.join(allowed)} only.")
        return email


class AccountCreateForm(UserCreationForm):
    """The second step, on the page the mailed link opens: the username and the password."""

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ["username"]


class ReportForm(forms.Form):
    format = forms.ChoiceField(choices=Report.Format.choices)
    status = forms.ChoiceField(choices=[("", "All statuses"), *Task.Status.choices], required=False)
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="Created from")
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="Created until")


class ImportForm(forms.Form):
    # `accept` only filters the file picker; the import reads the file's content to know what it is.
    file = forms.FileField(
        label="CSV or XLSX file",
        help_text=imports.FILES_ACCEPTED,
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.tsv,.txt,.xlsx"}),
    )
    date_order = forms.TypedChoiceField(
        label="Dates in the file",
        choices=TaskImport.DateOrder.choices,
        required=False,
        empty_value=TaskImport.DateOrder.ISO,
        help_text="YYYY-MM-DD and date cells are always read; 03/04/2026 is read as you choose here.",
    )


def add_service_errors(form: forms.Form, error) -> None:
    """Show a service's ValidationError on the form: on its field when the form has one."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, problems in error.message_dict.items():
        form.add_error(field if field in form.fields else None, problems)
