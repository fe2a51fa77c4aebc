"""The hourly blob sweep, through the task the beat schedule runs."""

from __future__ import annotations

import datetime
import io
import uuid
from pathlib import Path

import pytest
import time_machine
from django.conf import settings as django_settings
from django.db import transaction
from pytest_django.fixtures import Settings

from cuspid.core import clock
from cuspid.keys.blobs import blob_put
from cuspid.keys.models import EncryptedBlob, OwnerKind
from cuspid.keys.tasks import blobs_sweep_task


@pytest.mark.django_db(transaction=True)
def test_the_hourly_sweep_removes_what_a_rollback_left_after_the_grace_period(
    settings: Settings, tmp_path: Path
) -> None:
    settings.STORAGES = {
        **django_settings.STORAGES,
        "blobs": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "blobs")},
        },
    }

    def upload_then_fail() -> None:
        with transaction.atomic():
            blob_put(kind=OwnerKind.PATIENT, owner_id=uuid.uuid4(), source=io.BytesIO(b"scan"))
            raise RuntimeError("the request failed after the upload")

    with pytest.raises(RuntimeError):
        upload_then_fail()
    assert not EncryptedBlob.objects.exists()
    assert len(list((tmp_path / "blobs" / "tmp").iterdir())) == 1
    # Young orphans stay: the upload might still be in its transaction.
    assert blobs_sweep_task() == {"promoted": 0, "removed": 0, "skipped": 0}
    with time_machine.travel(clock.now() + datetime.timedelta(hours=7)):
        assert blobs_sweep_task() == {"promoted": 0, "removed": 1, "skipped": 0}
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []
