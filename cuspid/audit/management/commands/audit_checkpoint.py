"""``python manage.py audit_checkpoint``: sign the audit chain's head now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from cuspid.audit.services import audit_checkpoint_sign
from cuspid.core.actors import SystemActor


class Command(BaseCommand):
    help = "Sign a checkpoint of the audit chain (sequence, head hash, time) with Ed25519."

    def handle(self, *args: Any, **options: Any) -> None:
        checkpoint = audit_checkpoint_sign(actor=SystemActor(reason="audit_checkpoint_command"))
        if checkpoint is None:
            self.stdout.write("nothing new to checkpoint")
            return
        self.stdout.write(
            f"signed checkpoint at sequence {checkpoint.sequence} "
            f"(head {checkpoint.head_hash}, key {checkpoint.public_key_id})"
        )
