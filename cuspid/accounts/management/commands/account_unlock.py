"""``python manage.py account_unlock EMAIL``: the platform operator unlocks an account."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cuspid.accounts.models import User
from cuspid.accounts.services.security import user_unlock_by_operator
from cuspid.core.actors import SystemActor

REASON = "operator_account_unlock"


class Command(BaseCommand):
    help = (
        "Let a hard-locked account sign in again (clears the lock and the failure streak). "
        "Audited as the system."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="the account's sign-in email address")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(email__iexact=str(options["email"]).strip()).first()
        if user is None:
            raise CommandError("No account has this email address.")
        was_locked = user.locked_at is not None
        user_unlock_by_operator(actor=SystemActor(reason=REASON), user=user)
        if was_locked:
            self.stdout.write("Unlocked: the account can sign in again.")
        else:
            self.stdout.write("The account was not locked; its failure count was reset.")
