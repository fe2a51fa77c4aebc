"""Forms that check a second factor or re-authenticate, with Cuspid's throttles.

allauth's code forms (``MFA_FORMS``) are extended rather than replaced: before a code is
checked, the account must be under its ``mfa_failed`` limits (5 wrong codes per 5 minutes,
20 per hour) and not locked — otherwise even a right code is refused, with allauth's
generic "too many attempts" message; each wrong code counts against those limits and the
hard-lock streak (``cuspid.accounts.services.security``), which audit every outcome.
"""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.account.fields import PasswordField
from allauth.core import context
from allauth.mfa.base.forms import AuthenticateForm, ReauthenticateForm
from allauth.mfa.models import Authenticator
from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from cuspid.accounts.models import User
from cuspid.accounts.services import security

CODE_TYPES = (Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES)


def _checked_code(form: Any, check: Any) -> str:
    """Run allauth's code check ``check`` under Cuspid's limits; see the module docstring."""
    request = context.request
    user: User = form.user
    if not security.second_factor_may_try(request=request, user=user):
        security.second_factor_throttled(request=request, user=user)
        raise get_account_adapter().validation_error("too_many_login_attempts")
    try:
        code: str = check()
    except ValidationError as error:
        if error.code == "incorrect_code":
            security.second_factor_failed(request=request, user=user)
        else:  # allauth's own login_failed limit for codes refused it
            security.second_factor_throttled(request=request, user=user)
        raise
    return code


class MfaAuthenticateForm(AuthenticateForm):  # type: ignore[misc]  # allauth ships no types
    """The second step of signing in (a TOTP or recovery code), throttled and audited."""

    def clean_code(self) -> str:
        return _checked_code(self, super().clean_code)


class MfaReauthenticateForm(ReauthenticateForm):  # type: ignore[misc]  # allauth ships no types
    """A code when re-authenticating (the step-up page uses it), throttled and audited."""

    def clean_code(self) -> str:
        return _checked_code(self, super().clean_code)


class StepUpForm(forms.Form):
    """Confirm it is still you: the password, and a code when the account has a code factor
    (an authenticator app or recovery codes).

    The password goes through allauth's adapter (its ``login_failed`` limit, the hard lock
    and the failure audit apply, as at sign-in); the code through ``MfaReauthenticateForm``.
    The code is looked at only when the password is right.
    """

    password = PasswordField(label=_("Password"), autocomplete="current-password")
    code = forms.CharField(
        label=_("Code from your authenticator app, or a recovery code"),
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def __init__(self, *args: Any, user: User, needs_code: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.needs_code = needs_code
        self.code_form: MfaReauthenticateForm | None = None
        if needs_code:
            self.fields["code"].required = True
        else:
            del self.fields["code"]

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if self.errors:
            return cleaned
        adapter = get_account_adapter(context.request)
        if not adapter.reauthenticate(self.user, cleaned["password"]):
            raise adapter.validation_error("incorrect_password")
        if self.needs_code:
            code_form = MfaReauthenticateForm(data={"code": cleaned["code"]}, user=self.user)
            if not code_form.is_valid():
                for error in code_form.errors["code"]:
                    self.add_error("code", error)
                return cleaned
            self.code_form = code_form
        return cleaned

    @property
    def method(self) -> str:
        """How the user re-authenticated, for the audit event's purpose."""
        return "password_code" if self.needs_code else "password"

    def record_code_use(self) -> None:
        """Let allauth record the code's use (TOTP codes are single use; a recovery code is
        spent) and its re-authentication; call once the form is valid."""
        if self.code_form is not None:
            self.code_form.save()
