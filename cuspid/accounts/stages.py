"""Cuspid's login stages: the second factor, skipped on a trusted device, then "trust this
browser?".

allauth runs the stages listed by the account adapter (``services.devices.login_stages``)
after the password (or passkey) check and before the session is signed in. A stage either
lets the sign-in continue or answers with a page; that page's view resumes the sign-in with
``stage.exit()`` (allauth's ``TrustStage`` and ``mfa_trust`` view work the same way).
"""

from __future__ import annotations

from allauth.account.stages import LoginStage
from allauth.core.internal.httpkit import headed_redirect_response
from allauth.mfa.stages import AuthenticateStage
from django.http import HttpRequest, HttpResponse

from cuspid.accounts.services.devices import device_is_trusted_for

DEVICE_TRUST_STAGE_KEY = "cuspid_device_trust"


class TrustedDeviceAuthenticateStage(AuthenticateStage):  # type: ignore[misc]  # allauth ships no types
    """allauth's second-factor stage, skipped when this browser is a device the user trusts
    (``Device.trusted_until`` in the future). Only the second factor: the password check
    happened before any stage runs. Keeps allauth's key, so allauth's page serves it."""

    def _should_handle(self, request: HttpRequest) -> bool:
        if not super()._should_handle(request):
            return False
        return not device_is_trusted_for(request=request, user=self.login.user)


class DeviceTrustStage(LoginStage):  # type: ignore[misc]  # allauth ships no types
    """After a second factor was asked for, offer to trust this browser for 30 days
    (``accounts:device_trust``); passkey sign-ins and trusted devices skip it."""

    key = DEVICE_TRUST_STAGE_KEY
    urlname = "accounts:device_trust"

    def handle(self) -> tuple[HttpResponse | None, bool]:
        auth_stage = self.controller.get_stage(AuthenticateStage.key)
        if auth_stage is None or not auth_stage.state.get("authentication_required"):
            return None, True
        return headed_redirect_response(self.urlname), True
