"""How django-allauth behaves for Cuspid, and where its events enter Cuspid's services.

allauth calls the account adapter for every sign-in, sign-out and failed password check, and
asks it for the login stages; the MFA adapter for authenticator rules. Each hook here only
delegates to a service (``cuspid.accounts.services.*``), which checks, changes and audits.
No open sign-up: accounts come from invitations (and the demo seed).
"""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.stagekit import clear_login
from allauth.core import context
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from cuspid.accounts.models import User
from cuspid.accounts.policies import session_has_recent_auth
from cuspid.accounts.services import devices, mfa, security
from cuspid.keys.crypto import seal_secret, unseal_secret


class AccountAdapter(DefaultAccountAdapter):  # type: ignore[misc]  # allauth ships no types
    """Closes sign-up; audits sign-in, sign-out and failures; swaps in Cuspid's MFA stages."""

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False

    def login(self, request: HttpRequest, user: User) -> None:
        super().login(request, user)
        security.sign_in_succeeded(request=request, user=user)
        devices.device_recognise_at_sign_in(request=request, user=user)

    def logout(self, request: HttpRequest) -> None:
        user = request.user if isinstance(request.user, User) else None
        actor = getattr(request, "actor", None)
        super().logout(request)
        if user is not None:
            security.sign_out_recorded(request=request, user=user, actor=actor)

    def authentication_failed(self, request: HttpRequest, **credentials: Any) -> None:
        super().authentication_failed(request, **credentials)
        security.sign_in_failed(request=request, email=str(credentials.get("email", "")))

    # --- throttling, hard lock, step-up (services.security) ---------------------------------
    # Throttled passwords are caught here rather than in a custom LoginForm: allauth consumes
    # its "login_failed" limit (per address and per IP) in ``pre_authenticate`` for every
    # password check — sign-in and step-up alike — and refuses with its generic
    # "too_many_login_attempts" error, the same for any address. Wrapping it audits each
    # refusal without copying allauth's form logic.

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        try:
            super().pre_authenticate(request, **credentials)
        except ValidationError:
            security.sign_in_throttled(request=request, email=str(credentials.get("email", "")))
            raise

    def pre_login(self, request: HttpRequest, user: User, **kwargs: Any) -> HttpResponse | None:
        # A password sign-in of a locked account never gets here (the backend refuses it);
        # a passkey sign-in does, and is refused with the sign-in page's generic error.
        if user.locked_at is not None:
            clear_login(request)
            security.sign_in_refused_locked(request=request, user=user)
            messages.error(request, self.error_messages["email_password_mismatch"])
            return HttpResponseRedirect(reverse("account_login"))
        response: HttpResponse | None = super().pre_login(request, user, **kwargs)
        return response

    def is_reauthentication_required(self, *, app: str, **kwargs: Any) -> bool:
        # One clock for re-authentication: Cuspid's step-up window (the session's last full
        # authentication, cuspid.accounts.authtime), so allauth's own checks before MFA
        # changes agree with ``require_recent_auth``. The step-up page records each
        # re-authentication for allauth as well, so allauth's second check passes too.
        return not session_has_recent_auth(context.request.session)

    def get_login_stages(self) -> list[str]:
        return devices.login_stages(super().get_login_stages())


class MFAAdapter(DefaultMFAAdapter):  # type: ignore[misc]  # allauth ships no types
    """MFA rules: an account that must have MFA cannot remove its last second factor."""

    error_messages = {
        **DefaultMFAAdapter.error_messages,
        "cannot_delete_authenticator": _(
            "Your organization requires a second factor: add another one (an authenticator "
            "app or a passkey) before you remove this one."
        ),
    }

    def can_delete_authenticator(self, authenticator: Authenticator) -> bool:
        return mfa.can_remove_authenticator(authenticator)

    # TOTP secrets and recovery-code seeds are sealed with the platform key: a copied
    # database holds no second factor.
    def encrypt(self, text: str) -> str:
        return seal_secret(text, "mfa")

    def decrypt(self, encrypted_text: str) -> str:
        return unseal_secret(encrypted_text, "mfa")
