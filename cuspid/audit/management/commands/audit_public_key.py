"""``python manage.py audit_public_key``: print the PEM public key that verifies checkpoints."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from cuspid.audit.signing import load_signing_key, public_key_pem


class Command(BaseCommand):
    help = "Print the Ed25519 public key (PEM) of the audit checkpoint signing key."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(public_key_pem(load_signing_key()), ending="")
