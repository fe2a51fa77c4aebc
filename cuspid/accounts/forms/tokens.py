"""The form that creates an API token."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from cuspid.accounts.enums import TokenScope
from cuspid.accounts.services.tokens import DEFAULT_DAYS, MAX_DAYS, NAME_MAX

EXPIRY_CHOICES = [7, 30, DEFAULT_DAYS, 180, MAX_DAYS]


def _days(days: int) -> str:
    return ngettext("%(days)d day", "%(days)d days", days) % {"days": days}


class ApiTokenCreateForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=NAME_MAX,
        help_text=_("What the token is for, such as the integration that will use it."),
    )
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        choices=TokenScope.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("What the token may do. It never goes beyond what your own role allows."),
    )
    expires_in_days = forms.TypedChoiceField(
        label=_("Expires after"),
        coerce=int,
        initial=DEFAULT_DAYS,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        expiry = self.fields["expires_in_days"]
        assert isinstance(expiry, forms.TypedChoiceField)  # noqa: S101 -- narrows the type; declared above
        # Labels in the request's language, so they are made here, not at import.
        expiry.choices = [(days, _days(days)) for days in EXPIRY_CHOICES]
