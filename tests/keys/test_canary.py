"""The canary: a patient whose name, notes and scan carry a unique string, which then must
appear nowhere at rest — not in the SQLite file, a pg_dump, the blob directory, the S3 bucket,
nor the logs."""

from __future__ import annotations

import datetime
import io
import logging
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest
from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import connection, transaction
from storages.backends.s3 import S3Storage

from cuspid.keys.blobs import blob_open, blob_put
from cuspid.keys.models import OwnerKind
from cuspid.patients.models import Patient
from tests.factories import make_organization

BUCKET = "cuspid-canary"


def canary() -> str:
    return f"CANARY-{uuid.uuid4().hex}"


def files_containing(root: Path, needle: bytes) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file() and needle in path.read_bytes()]


def scan_bytes(mark: str) -> bytes:
    """An ASCII STL whose solid name is the canary, as a careless scanner would write it."""
    facet = (
        "facet normal 0 0 1\n outer loop\n  vertex 0 0 0\n  vertex 1 0 0\n  vertex 0 1 0\n"
        " endloop\nendfacet\n"
    )
    return (f"solid {mark}\n" + facet * 2000 + f"endsolid {mark}\n").encode()


def database_image(tmp_path: Path) -> bytes:
    """Every byte the test database holds on disk: a pg_dump of PostgreSQL, or a copy of
    the SQLite database written out as a file."""
    if connection.vendor == "postgresql":
        params = connection.settings_dict
        dump = subprocess.run(
            [
                "pg_dump",
                "--host",
                params["HOST"] or "127.0.0.1",
                "--port",
                str(params["PORT"] or 5432),
                "--username",
                params["USER"] or "postgres",
                "--dbname",
                params["NAME"],
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
        assert b"CREATE TABLE public.patients_patient" in dump.stdout
        return dump.stdout
    copy = tmp_path / "copy.sqlite3"
    connection.ensure_connection()
    target = sqlite3.connect(copy)
    connection.connection.backup(target)
    target.close()
    data = copy.read_bytes()
    assert b"patients_patient" in data
    return data


@pytest.mark.django_db(transaction=True)
def test_the_canary_is_nowhere_at_rest(
    tmp_path: Path,
    moto_endpoint: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    mark = canary()
    clinic = make_organization(name="Canary Clinic")
    boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=BUCKET)
    bucket_storage = S3Storage(
        bucket_name=BUCKET,
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        access_key="testing",
        secret_key="testing",
    )
    disk_storage = FileSystemStorage(location=tmp_path / "blobs")
    scan = scan_bytes(mark)

    with transaction.atomic():
        patient = Patient.objects.create(
            organization=clinic,
            given_name=mark,
            family_name=f"{mark}-family",
            date_of_birth=datetime.date(1971, 7, 1),
            health_card=f"{mark}-card",
            email=f"{mark}@example.org",
            notes=f"{mark} notes",
        )
        on_disk = blob_put(
            kind=OwnerKind.PATIENT,
            owner_id=patient.id,
            source=io.BytesIO(scan),
            storage=disk_storage,
        )
        in_bucket = blob_put(
            kind=OwnerKind.PATIENT,
            owner_id=patient.id,
            source=io.BytesIO(scan),
            storage=bucket_storage,
        )
    logging.getLogger("cuspid").info("patient %s stored", patient)

    # Everything reads back: the canary is in the data, sealed.
    stored = Patient.objects.get(pk=patient.pk)
    assert stored.given_name == mark
    assert stored.notes == f"{mark} notes"
    with blob_open(on_disk, storage=disk_storage) as reader:
        assert reader.read() == scan
    with blob_open(in_bucket, storage=bucket_storage) as reader:
        assert reader.read() == scan

    needle = mark.encode()
    image = database_image(tmp_path)
    assert b"Canary Clinic" in image  # the search sees what is stored in the clear
    assert needle not in image
    assert files_containing(tmp_path / "blobs", needle) == []
    assert len(list((tmp_path / "blobs").rglob("*-*"))) >= 1
    client = bucket_storage.connection.meta.client
    keys = [obj["Key"] for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert keys
    for key in keys:
        assert needle not in client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    out, err = capfd.readouterr()
    assert str(patient.id) in caplog.text  # the logs were captured
    assert mark not in caplog.text
    assert mark not in out
    assert mark not in err


def test_the_canary_is_nowhere_in_the_embedded_default(tmp_path: Path) -> None:
    """The embedded default end to end: a fresh SQLite file, the blob directory under the
    var directory, and everything the process logged at debug level."""
    mark = canary()
    var = tmp_path / "var"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "CUSPID_VAR_DIR": str(var),
        "CUSPID_DATABASE_URL": f"sqlite:///{var / 'cuspid.sqlite3'}",
        "CUSPID_KEK_PATH": str(var / "keys" / "kek.json"),
        "CUSPID_FORGET_LIST": str(var / "keys" / "forget-list"),
        "CUSPID_BLOB_DIR": str(var / "blobs"),
        "CUSPID_LOG_LEVEL": "DEBUG",
    }
    var.mkdir()
    manage = [sys.executable, "manage.py"]
    migrated = subprocess.run(
        [*manage, "migrate", "-v0"],
        env=env,
        check=True,
        timeout=300,
        capture_output=True,
        cwd=settings.BASE_DIR,
    )
    scenario = f"""
import datetime, io, logging
from django.db import transaction
from cuspid.keys.blobs import blob_open, blob_put
from cuspid.patients.models import Patient
from tests.factories import make_organization
from tests.keys.test_canary import scan_bytes
logging.getLogger().setLevel(logging.DEBUG)
with transaction.atomic():
    patient = Patient.objects.create(
        organization=make_organization(name="Embedded Clinic"), given_name="{mark}",
        family_name="Family", date_of_birth=datetime.date(1980, 1, 1), notes="{mark} notes")
    blob = blob_put(kind="patient", owner_id=patient.id, source=io.BytesIO(scan_bytes("{mark}")))
with blob_open(blob) as reader:
    assert reader.read() == scan_bytes("{mark}")
assert Patient.objects.get(pk=patient.pk).notes == "{mark} notes"
print("stored", patient.id)
"""
    ran = subprocess.run(
        [*manage, "shell", "-v0", "-c", scenario],
        env=env,
        check=True,
        timeout=300,
        capture_output=True,
        cwd=settings.BASE_DIR,
    )
    assert b"stored" in ran.stdout
    needle = mark.encode()
    database = b"".join(path.read_bytes() for path in var.glob("cuspid.sqlite3*"))
    assert b"Embedded Clinic" in database  # the search sees what is stored in the clear
    assert needle not in database
    assert list((var / "blobs").rglob("*")), "the scan went to the blob directory"
    assert files_containing(var, needle) == []
    for output in (migrated.stdout, migrated.stderr, ran.stdout, ran.stderr):
        assert needle not in output
