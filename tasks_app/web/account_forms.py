"""The account page's forms: name, time zone, address change, personal API token."""

from django import forms
from django.contrib.auth import get_user_model

from tasks_app.models import PersonalToken
from tasks_app.services import accounts, people


class NameForm(forms.ModelForm):
    class Meta:
        model = get_user_model()
        fields = ["first_name", "last_name"]


class TimeZoneForm(forms.Form):
    # A text box with the zones as suggestions (people.time_zone_list, rendered once a process):
    # a <select> of its 600 zones cost the account page 30-50 ms of CPU every time it was shown.
    time_zone = forms.CharField(
        label="Time zone",
        max_length=64,
        widget=forms.TextInput(attrs={"list": "time-zones", "autocomplete": "off", "spellcheck": "false"}),
        help_text="Times on every page and in your mails; type to find yours (such as Europe/Berlin).",
    )

    def clean_time_zone(self) -> str:
        zone = self.cleaned_data["time_zone"]
        if zone not in people.TIME_ZONES:
            raise forms.ValidationError("Choose a time zone from the list, such as Europe/Berlin.")
        return zone


class PasswordAskedForm(forms.Form):
    """A form that asks for the person's password: with only a stolen session, nobody can do
    what it does. The views count a wrong one as a failed login (the lockout)."""

    password = forms.CharField(label="Your password", strip=False, widget=forms.PasswordInput)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        if not self.user.check_password(self.cleaned_data["password"]):
            raise forms.ValidationError("That is not your password.")
        return self.cleaned_data["password"]


class EmailChangeForm(PasswordAskedForm):
    """A new address: nobody can move the account's address (and then its password resets) elsewhere."""

    email = forms.EmailField(
        label="New address", max_length=254, help_text="We mail it a link; it becomes yours once the link is opened."
    )
    field_order = ["email", "password"]

    def clean_email(self) -> str:
        address = self.cleaned_data["email"]
        if address.lower() == self.user.email.lower():
            raise forms.ValidationError("That is already your address.")
        if accounts.user_with_address(address) is not None:
            raise forms.ValidationError("Another account has this address.")
        return address


class TokenForm(PasswordAskedForm):
    """A new personal API token: a key that outlives a session, so it takes the password."""

    name = forms.CharField(label="Token name", max_length=PersonalToken._meta.get_field("name").max_length)
    field_order = ["name", "password"]
