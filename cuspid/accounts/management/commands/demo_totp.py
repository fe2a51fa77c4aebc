"""``python manage.py demo_totp EMAIL``: the current 6-digit code of a demo account.

The demo seed enrols its staff accounts in TOTP with a fixed, printed demo secret; this
saves trying the demo with a phone. Refused unless demo mode is on (``CUSPID_DEMO_ALLOWED``,
false in production).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cuspid.accounts.models import User
from cuspid.accounts.services.mfa import totp_current_code


class Command(BaseCommand):
    help = "Print the current authenticator code of a demo account (demo mode only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="The demo account's email address.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not getattr(settings, "CUSPID_DEMO_ALLOWED", False):
            raise CommandError(
                "demo_totp works only in demo mode (CUSPID_DEMO_ALLOWED); it is off here."
            )
        user = User.objects.filter(email__iexact=options["email"]).first()
        code = totp_current_code(user) if user is not None else None
        if code is None:
            raise CommandError("No account with an authenticator app has that email address.")
        self.stdout.write(code)
