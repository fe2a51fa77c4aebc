"""Forms of the invitation pages: the admin's invite form and the invitee's new account."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.password_validation import (
    password_validators_help_text_html,
    validate_password,
)
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from cuspid.accounts.models import Invitation
from cuspid.accounts.services.invitations import invitable_roles, invitation_password_user
from cuspid.tenancy.models import Organization


class InvitationCreateForm(forms.Form):
    email = forms.EmailField(label=_("Email address"), max_length=254)
    role = forms.ChoiceField(label=_("Role"))

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        role_field = self.fields["role"]
        assert isinstance(role_field, forms.ChoiceField)  # noqa: S101 -- narrows the type; declared above
        # No preselected role: an admin role must be a choice, never a default.
        role_field.choices = [
            ("", _("Choose a role")),
            *((role.value, role.label) for role in invitable_roles(organization)),
        ]


class InvitationAcceptForm(forms.Form):
    """Full name and a new password (twice), checked by every password validator with the
    invitee's email, name and organisation as context."""

    full_name = forms.CharField(
        label=_("Full name"),
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label=_("Password (again)"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: Any, invitation: Invitation, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.invitation = invitation

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        password1 = cleaned.get("password1")
        password2 = cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", _("The two passwords do not match."))
        elif password1:
            user = invitation_password_user(self.invitation, cleaned.get("full_name", ""))
            try:
                validate_password(password1, user)
            except ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned
