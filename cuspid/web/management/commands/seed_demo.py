"""``python manage.py seed_demo``: create the demo data and print its logins."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from cuspid.web.demo import format_logins, seed_demo


class Command(BaseCommand):
    help = "Create the demo clinics, lab and users (idempotent) and print their logins."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            logins = seed_demo()
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write("Demo logins (fictitious people and organizations):")
        self.stdout.write(format_logins(logins))
