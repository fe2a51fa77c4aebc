"""``python manage.py approvals_public_key``: print the PEM public key that verifies
approvals, for anyone who checks them offline."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from cuspid.cases.selectors.approvals import approval_signing_key
from cuspid.core.signing import public_key_pem


class Command(BaseCommand):
    help = "Print the Ed25519 public key (PEM) of the approval signing key."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(public_key_pem(approval_signing_key()), ending="")
