"""Pages: allauth.mfa's, with one rule allauth does not apply to passkeys.

allauth consults ``MFAAdapter.can_delete_authenticator`` before turning TOTP off, but not
before removing a passkey. This view takes the passkey-removal address (it is matched before
allauth's URLs) and asks the adapter first, so an account that must have MFA cannot remove
its last second factor either way.
"""

from __future__ import annotations

from typing import Any

from allauth.mfa.adapter import get_adapter
from allauth.mfa.webauthn.views import RemoveWebAuthnView
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import URLPattern, path


class WebAuthnRemoveView(RemoveWebAuthnView):  # type: ignore[misc]  # allauth ships no types
    """allauth's passkey removal, refused for the last second factor of an MFA-required
    account."""

    def form_valid(self, form: Any) -> HttpResponse:
        adapter = get_adapter()
        if not adapter.can_delete_authenticator(self.get_object()):
            messages.error(self.request, adapter.error_messages["cannot_delete_authenticator"])
            return redirect("mfa_list_webauthn")
        response: HttpResponse = super().form_valid(form)
        return response


urlpatterns: list[URLPattern] = [
    path(
        "accounts/2fa/webauthn/keys/<int:pk>/remove/",
        WebAuthnRemoveView.as_view(),
        name="webauthn_remove",
    ),
]
