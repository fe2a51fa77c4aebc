"""``python manage.py approvals_verify``: check every approval's signature, and that every
approved revision's files still hash to what was approved."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.audit.services import audit_emit
from cuspid.cases.selectors.approvals import approval_public_keys, approvals_verify
from cuspid.core.actors import SystemActor


class Command(BaseCommand):
    help = (
        "Verify every approval: its Ed25519 signature (by key id, with the configured key and "
        "any in --keys-dir) and that its revision's files still decrypt and hash to the "
        "approved manifest. One line per problem; exits non-zero on any."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--keys-dir",
            type=Path,
            default=None,
            help="A folder of PEM public keys (*.pem) that signed earlier approvals, e.g. "
            "before a key rotation; the configured signing key is always used too.",
        )
        parser.add_argument(
            "--json", action="store_true", help="Print one JSON document instead of lines."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        keys_dir: Path | None = options["keys_dir"]
        if keys_dir is not None and not keys_dir.is_dir():
            raise CommandError(f"--keys-dir {keys_dir} is not a folder")
        try:
            public_keys = approval_public_keys(keys_dir=keys_dir)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        report = approvals_verify(public_keys=public_keys)
        # It decrypted every approved file: the trail says so (no ids, no counts of patients).
        with transaction.atomic():
            audit_emit(
                action=AuditAction.Case.ApprovalsVerified,
                actor=SystemActor(reason="approvals_verify"),
                outcome=Outcome.ALLOWED if report.ok else Outcome.ERROR,
                data_type="case_file",
                purpose="integrity",
            )
        if options["json"]:
            document = {
                "ok": report.ok,
                "approvals": report.approvals,
                "files": report.files,
                "problems": [problem.as_dict() for problem in report.problems],
            }
            self.stdout.write(json.dumps(document, indent=2, sort_keys=True))
        else:
            for problem in report.problems:
                self.stdout.write(problem.line())
        if not report.ok:
            raise CommandError(
                f"{len(report.problems)} problems in {report.approvals} approvals", returncode=1
            )
        if not options["json"]:
            self.stdout.write(
                f"{report.approvals} approvals verified ({report.files} files), "
                f"{len(public_keys)} public keys"
            )
