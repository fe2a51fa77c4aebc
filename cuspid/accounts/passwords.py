"""Password rules beyond Django's: NIST 800-63B asks for at least 64 accepted characters."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

MAX_PASSWORD_LENGTH = 128


class MaximumLengthValidator:
    """Refuse absurdly long passwords (hashing cost), while accepting at least 64 characters."""

    def validate(self, password: str, user: Any = None) -> None:
        if len(password) > MAX_PASSWORD_LENGTH:
            raise ValidationError(
                _("This password is too long. Use at most %(max)d characters."),
                code="password_too_long",
                params={"max": MAX_PASSWORD_LENGTH},
            )

    def get_help_text(self) -> str:
        return _("Your password can be up to %(max)d characters long.") % {
            "max": MAX_PASSWORD_LENGTH
        }
