"""``python manage.py audit_verify``: check the audit hash chain and its signed checkpoints."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from cuspid.audit.verify import audit_chain_verify


class Command(BaseCommand):
    help = "Verify the audit chain and checkpoints; name the first bad sequence number."

    def handle(self, *args: Any, **options: Any) -> None:
        result = audit_chain_verify()
        if not result.ok:
            raise CommandError(
                f"audit chain broken at sequence {result.first_bad_sequence}: {result.reason}"
            )
        self.stdout.write(f"verified {result.events} events, {result.checkpoints} checkpoints")
