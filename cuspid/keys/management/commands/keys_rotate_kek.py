"""``python manage.py keys_rotate_kek``: re-wrap every data key with a new master key."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cuspid.core.actors import SystemActor
from cuspid.keys.kek_rotation import (
    KekRotationError,
    kek_retire,
    kek_rotate,
    kek_rotation_pending,
)
from cuspid.keys.management.arguments import add_batch_arguments


class Command(BaseCommand):
    help = (
        "Rotate the master key (KEK): add a new primary key and re-wrap every data key with "
        "it, without touching data. Run it again after a crash or a kill: it resumes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--retire",
            action="store_true",
            help=(
                "finish a rotation under way (never start one), then drop the older master "
                "keys (keep a copy of the previous keyset file while older database backups "
                "must stay restorable)"
            ),
        )
        add_batch_arguments(parser, unit="data keys re-wrapped")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = SystemActor(reason="keys_rotate_kek_command")
        pause: float = options["pause"]

        def progress(done: int, total: int) -> None:
            self.stdout.write(f"re-wrapped {done}/{total} data keys")
            if pause and done < total:
                time.sleep(pause)

        try:
            # --retire finishes an interrupted rotation but never starts one.
            if not options["retire"] or kek_rotation_pending():
                report = kek_rotate(
                    actor=actor, progress=progress, batch_size=options["batch_size"]
                )
                how = "resumed and finished" if report.resumed else "finished"
                self.stdout.write(
                    f"master key rotation {how}: {report.rewrapped} data keys re-wrapped, "
                    f"primary key {report.primary_key_id}"
                )
            if not options["retire"]:
                return
            retired = kek_retire(actor=actor)
        except KekRotationError as error:
            raise CommandError(str(error)) from error
        ids = ", ".join(str(key_id) for key_id in retired) or "none"
        self.stdout.write(f"retired older master keys: {ids}")
