"""The authentication backend: allauth's, with Cuspid's hard lock."""

from __future__ import annotations

from typing import Any

from allauth.account.auth_backends import AuthenticationBackend
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest


class LockAwareAuthenticationBackend(AuthenticationBackend):  # type: ignore[misc]  # allauth ships no types
    """allauth's email-and-password backend that refuses a hard-locked account.

    The password is still checked (same work, same timing) and the answer is the one a
    wrong password gets, so a locked account cannot be told from a wrong guess; allauth then
    counts the attempt against its ``login_failed`` rate limit and calls the adapter's
    ``authentication_failed``, as for any wrong password. Refusing here rather than in a
    form covers every path that authenticates with a password (sign-in, step-up).
    """

    def authenticate(
        self, request: HttpRequest | None, **credentials: Any
    ) -> AbstractBaseUser | None:
        user: AbstractBaseUser | None = super().authenticate(request, **credentials)
        if user is not None and getattr(user, "locked_at", None) is not None:
            return None
        return user
