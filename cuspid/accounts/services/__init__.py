"""Writes to a user's own account."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from cuspid.accounts.models import User
from cuspid.core.errors import InvalidInput


def _check_language(language: str) -> None:
    if language not in {code for code, _name in settings.LANGUAGES}:
        raise InvalidInput("Unsupported language.")


@transaction.atomic(durable=True)
def user_profile_update(*, user: User, full_name: str, language: str) -> User:
    """Change the user's display name and language. Raises InvalidInput for a bad language."""
    _check_language(language)
    user.full_name = full_name.strip()
    user.language = language
    user.save(update_fields=["full_name", "language"])
    return user


@transaction.atomic(durable=True)
def user_language_set(*, user: User, language: str) -> User:
    """Save the user's language choice. Raises InvalidInput for a bad language."""
    _check_language(language)
    user.language = language
    user.save(update_fields=["language"])
    return user


@transaction.atomic(durable=True)
def user_create(
    *, email: str, password: str, full_name: str = "", language: str = "en", is_staff: bool = False
) -> User:
    """Create an account. Raises InvalidInput when the email is taken (in any letter case)."""
    return user_add(
        email=email, password=password, full_name=full_name, language=language, is_staff=is_staff
    )


@transaction.atomic
def user_add(
    *, email: str, password: str, full_name: str = "", language: str = "en", is_staff: bool = False
) -> User:
    """:func:`user_create` as one step of a caller's own durable transaction (accepting an
    invitation creates the account and its membership together); same rules and errors."""
    _check_language(language)
    if User.objects.filter(email__iexact=email.strip()).exists():
        raise InvalidInput("An account with this email already exists.")
    return User.objects.create_user(
        email.strip(), password, full_name=full_name, language=language, is_staff=is_staff
    )


@transaction.atomic(durable=True)
def user_password_set(*, user: User, password: str) -> User:
    """Replace the user's password (hashed with Argon2id)."""
    user.set_password(password)
    user.save(update_fields=["password"])
    return user
