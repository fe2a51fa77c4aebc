"""Password rules beyond Django's (NIST 800-63B): at least 64 accepted characters, no
context words. Imports only Django: memberships are read through the user's reverse relation."""

from __future__ import annotations

import re
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


# Shorter words would refuse too many good passwords ("jo@…" must not forbid every "jo").
MIN_CONTEXT_WORD = 4
_WORD_SPLIT = re.compile(r"[^\w]+|_")


def _squash(text: str) -> str:
    """Lower-case ``text`` without any white space, the form words are compared in."""
    return "".join(text.lower().split())


def _words(text: str) -> set[str]:
    return {word for word in _WORD_SPLIT.split(text.lower()) if len(word) >= MIN_CONTEXT_WORD}


def context_words(user: Any) -> set[str]:
    """The words a password of ``user`` may not contain, squashed (lower case, no spaces).

    "cuspid"; the names of the user's organisations (through its memberships, once saved);
    the email's local part and the domain's names (not the top-level domain); the full
    name's words of at least four letters; and ``user.password_context_words`` (an invitee
    who is not saved yet carries its organisation's name there). Words under four
    characters are left out.
    """
    words = {"cuspid"}
    if user is None:
        return words
    extra = getattr(user, "password_context_words", ())
    candidates: set[str] = {str(word) for word in extra}
    email = str(getattr(user, "email", "") or "")
    local, _at, domain = email.rpartition("@") if "@" in email else (email, "", "")
    candidates.add(local)
    candidates |= _words(local)
    labels = domain.lower().split(".")[:-1] if "." in domain else []
    candidates |= {label for label in labels if len(label) >= MIN_CONTEXT_WORD}
    candidates |= _words(str(getattr(user, "full_name", "") or ""))
    if getattr(user, "pk", None) is not None and not user._state.adding:
        # The reverse relation of tenancy's Membership: no import of tenancy needed.
        names = user.memberships.values_list("organization__name", flat=True)
        candidates |= {str(name) for name in names}
    words |= {squashed for word in candidates if len(squashed := _squash(word)) >= MIN_CONTEXT_WORD}
    return words


class ContextWordsValidator:
    """Refuse a password that contains a word from the account's context (NIST 800-63B
    §5.1.1.2: "context-specific words, such as the name of the service, the username").

    Compared case-insensitively with spaces ignored; see :func:`context_words`.
    """

    def validate(self, password: str, user: Any = None) -> None:
        squashed = _squash(password)
        if any(word in squashed for word in context_words(user)):
            raise ValidationError(
                _(
                    "This password contains your name, your email address, your "
                    "organization's name or “Cuspid”. Choose one without them."
                ),
                code="password_has_context_word",
            )

    def get_help_text(self) -> str:
        return _(
            "Your password cannot contain your name, your email address, your "
            "organization's name or “Cuspid”."
        )
