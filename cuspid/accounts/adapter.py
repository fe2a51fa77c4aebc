"""How django-allauth behaves for Cuspid: no open sign-up; accounts come from invitations."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest


class AccountAdapter(DefaultAccountAdapter):  # type: ignore[misc]  # allauth ships no types
    """Closes self-service sign-up. Users are created by the demo seed and by invitations."""

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False
