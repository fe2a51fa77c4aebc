"""``python manage.py keys_rotate_dek --patient ID | --organization ID | --all``.

Gives each chosen data key a new primary key, then re-encrypts: in the background by
default (the worker's ``keys.dek_rotation_finish`` job, which also retires the old keys), or
here with ``--now``, printing progress. Running it again after a crash resumes every rotation
under way instead of starting another.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cuspid.core.actors import SystemActor
from cuspid.keys.management.arguments import add_batch_arguments
from cuspid.keys.models import DataKey, OwnerKind
from cuspid.keys.rotation import RotationUnfinished, dek_reencrypt, dek_retire, dek_rotate
from cuspid.keys.tasks import dek_rotation_finish

# Blind-index keys are not rotated here: their indexes would have to be recomputed from
# plaintext. Rotating one is a re-index, not a re-encryption.
ROTATABLE = (OwnerKind.PATIENT, OwnerKind.ORGANIZATION, OwnerKind.USER, OwnerKind.SYSTEM)


class Command(BaseCommand):
    help = "Rotate data keys (DEKs): add a new primary key and re-encrypt what the old ones sealed."

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--patient", type=UUID, help="the patient's id")
        which.add_argument("--organization", type=UUID, help="the organisation's id")
        which.add_argument("--all", action="store_true", help="every live data key")
        parser.add_argument(
            "--now",
            action="store_true",
            help="re-encrypt here, with progress, instead of in the background",
        )
        add_batch_arguments(parser, unit="records re-encrypted")

    def handle(self, *args: Any, **options: Any) -> None:
        keys = DataKey.objects.filter(destroyed_at__isnull=True, owner_kind__in=ROTATABLE)
        if options["patient"] is not None:
            keys = keys.filter(owner_kind=OwnerKind.PATIENT, owner_id=options["patient"])
        elif options["organization"] is not None:
            keys = keys.filter(owner_kind=OwnerKind.ORGANIZATION, owner_id=options["organization"])
        owners = list(keys.order_by("created_at").values_list("owner_kind", "owner_id"))
        if not owners:
            raise CommandError("no live data key matches")
        actor = SystemActor(reason="keys_rotate_dek")
        for number, (kind, owner_id) in enumerate(owners, start=1):
            owner_kind = OwnerKind(kind)
            data_key = dek_rotate(actor=actor, kind=owner_kind, owner_id=owner_id)
            label = f"[{number}/{len(owners)}] {kind} key {data_key.primary_key_id}"
            if not options["now"]:
                dek_rotation_finish.delay(str(kind), str(owner_id))
                self.stdout.write(f"{label}: rotated; re-encryption queued")
                continue

            def progress(changed: int, label: str = label) -> None:
                self.stdout.write(f"{label}: re-encrypted {changed} records so far")
                time.sleep(options["pause"])

            done = dek_reencrypt(
                kind=owner_kind,
                owner_id=owner_id,
                batch_size=options["batch_size"],
                progress=progress,
            )
            self.stdout.write(f"{label}: re-encrypted {done.rows} records and {done.blobs} files")
            try:
                retired = dek_retire(actor=actor, kind=owner_kind, owner_id=owner_id)
            except RotationUnfinished as error:
                self.stdout.write(f"{label}: {error.detail} Run again later to retire them.")
                continue
            self.stdout.write(f"{label}: retired keys {', '.join(map(str, retired))}")
