"""The audit page's search form: it only parses; the selector does the filtering."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

from cuspid.audit.actions import action_label, all_actions
from cuspid.audit.enums import Outcome
from cuspid.audit.selectors import AuditFilters


class AuditSearchForm(forms.Form):
    user = forms.CharField(
        label=_("User (id or email)"), required=False, max_length=254, strip=True
    )
    patient = forms.CharField(label=_("Patient id"), required=False, max_length=64, strip=True)
    action = forms.ChoiceField(label=_("Action"), required=False)
    outcome = forms.ChoiceField(
        label=_("Outcome"),
        required=False,
        choices=[("", _("Any outcome")), *Outcome.choices],
    )
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [  # type: ignore[attr-defined]  # a ChoiceField
            ("", _("Any action")),
            *((str(a), action_label(str(a))) for a in all_actions()),
        ]

    def clean_user(self) -> str:
        value: str = self.cleaned_data["user"]
        if not value:
            return value
        try:
            forms.UUIDField().to_python(value)
        except ValidationError:
            try:
                validate_email(value)
            except ValidationError:
                raise ValidationError(_("Enter a user id or an email address.")) from None
        return value

    def filters(self) -> AuditFilters:
        """The criteria of a valid form (call ``is_valid()`` first)."""
        data = self.cleaned_data
        user: str = data["user"]
        is_email = "@" in user
        return AuditFilters(
            user_id=forms.UUIDField().to_python(user) if user and not is_email else None,
            user_email=user if is_email else "",
            patient_id=data["patient"],
            action=data["action"],
            outcome=data["outcome"],
            date_from=data["date_from"],
            date_to=data["date_to"],
        )
