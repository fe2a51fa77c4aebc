"""Pages: step-up (confirm it is you), and allauth's password pages with Cuspid's rules.

Every re-authentication in the product is this page: allauth's own "reauthenticate" pages
(``account_reauthenticate``, ``mfa_reauthenticate``) redirect here (config/urls.py), and a
service's ``StepUpRequired`` becomes a redirect here (``DomainErrorMiddleware``). The user
gives their password and a code (TOTP or recovery code) — the password alone for accounts
without a second factor — or uses a passkey (allauth's WebAuthn re-authentication, wrapped
below). Success restarts the step-up clock and returns to ``next`` (same host only), or
replays the request allauth suspended.
"""

from __future__ import annotations

from typing import Any

from allauth.account import views as account_views
from allauth.account.internal.flows.reauthentication import resume_request
from allauth.mfa.webauthn import views as webauthn_views
from allauth.mfa.webauthn.internal import flows as webauthn_flows
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_http_methods

from cuspid.accounts.forms.security import StepUpForm
from cuspid.accounts.models import User
from cuspid.accounts.policies import require_recent_auth
from cuspid.accounts.selectors.sessions import step_up_methods_for
from cuspid.accounts.services import security
from cuspid.accounts.views.devices import account_actor


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 -- every caller is behind login_required
    return user


def safe_next(request: HttpRequest, candidate: str | None) -> str:
    """``candidate`` when it stays on this site, else the dashboard."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("web:dashboard")


@login_required
@require_http_methods(["GET", "POST"])
def step_up(request: HttpRequest) -> HttpResponse:
    """Confirm your identity: password (+ code), or a passkey; then back to ``next``."""
    user = _user(request)
    methods = step_up_methods_for(user=user)
    next_url = safe_next(
        request, request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME)
    )
    form = StepUpForm(request.POST or None, user=user, needs_code=methods.code)
    if request.method == "POST" and methods.password and form.is_valid():
        form.record_code_use()
        security.step_up_succeeded(request=request, user=user, method=form.method)
        resumed = resume_request(request)
        return resumed or redirect(next_url)
    passkey_url = ""
    if methods.passkey:
        query = urlencode({REDIRECT_FIELD_NAME: next_url})
        passkey_url = f"{reverse('mfa_reauthenticate_webauthn')}?{query}"
    context = {"form": form, "methods": methods, "next": next_url, "passkey_url": passkey_url}
    return render(request, "accounts/step_up.html", context)


class PasskeyStepUpView(webauthn_views.ReauthenticateWebAuthnView):  # type: ignore[misc]  # allauth ships no types
    """allauth's passkey re-authentication, restarting Cuspid's step-up clock (and auditing
    it) before the suspended request is resumed."""

    def form_valid(self, form: Any) -> HttpResponse:
        webauthn_flows.reauthenticate(self.request, form.cleaned_data["credential"])
        security.step_up_succeeded(request=self.request, user=_user(self.request), method="passkey")
        # Skip allauth's own form_valid (it would record the re-authentication again).
        response: HttpResponse = super(webauthn_views.ReauthenticateWebAuthnView, self).form_valid(
            form
        )
        return response


class PasswordChangeView(account_views.PasswordChangeView):  # type: ignore[misc]  # allauth ships no types
    """allauth's password change (it asks for the current password), behind step-up; on
    success every other session ends and the change is audited (``security.password_changed``).
    """

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # The route is SIGNED_IN, so there is a user here (else NotAuthenticated: sign-in page).
        require_recent_auth(account_actor(request))
        response: HttpResponse = super().dispatch(request, *args, **kwargs)
        return response

    def form_valid(self, form: Any) -> HttpResponse:
        response: HttpResponse = super().form_valid(form)
        security.password_changed(request=self.request, user=form.user)
        return response


class PasswordResetFromKeyView(account_views.PasswordResetFromKeyView):  # type: ignore[misc]  # allauth ships no types
    """allauth's "choose a new password" page of a reset link (valid 60 minutes, once); on
    success every session of the account ends and the reset is audited."""

    def form_valid(self, form: Any) -> HttpResponse:
        user = self.reset_user
        response: HttpResponse = super().form_valid(form)
        security.password_reset_recorded(request=self.request, user=user)
        return response


passkey_step_up = PasskeyStepUpView.as_view()
password_change = PasswordChangeView.as_view()
password_reset_from_key = PasswordResetFromKeyView.as_view()

urlpatterns: list[URLPattern] = [
    path("account/step-up/", step_up, name="step_up"),
]
