"""allauth.mfa forms with Cuspid's labels."""

from __future__ import annotations

from typing import Any

from allauth.mfa.webauthn.forms import EditWebAuthnForm
from django.utils.translation import gettext_lazy as _


class PasskeyRenameForm(EditWebAuthnForm):  # type: ignore[misc]  # allauth ships no types
    """allauth's rename form, whose name field has no (translatable) label of its own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].label = _("Name")
        self.fields["name"].max_length = 100
