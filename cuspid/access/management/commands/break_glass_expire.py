"""``python manage.py break_glass_expire``: end and audit expired break-glass grants now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from cuspid.access.services import break_glass_expire_due


class Command(BaseCommand):
    help = "End every break-glass grant past its expiry and audit each expiry."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"expired {break_glass_expire_due()} break-glass grant(s)")
