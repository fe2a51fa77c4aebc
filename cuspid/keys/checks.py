"""System checks for the key hierarchy, run by ``manage.py check --deploy``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Warning


def kek_in_kms_check(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Warn when the master key (KEK) is a plaintext keyset file rather than one encrypted by
    a KMS key: whoever copies that file together with a database backup can read everything.
    """
    if settings.CUSPID_KEK_URI:
        return []
    return [
        Warning(
            "The master key (KEK) is a plaintext keyset file (CUSPID_KEK_URI is not set).",
            hint=(
                "Anyone with a copy of that file and of the database can read all data. "
                "Mount a keyset encrypted by a KMS key and name the key in CUSPID_KEK_URI "
                "(aws-kms://arn:aws:kms:<region>:<account>:key/<key id>)."
            ),
            id="cuspid.keys.W001",
        )
    ]
