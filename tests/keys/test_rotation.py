"""DEK rotation: a new primary key, re-encryption of fields and blob keys, retiring the old
keys, the background job, and the command (resumed after being killed)."""

from __future__ import annotations

import datetime
import io
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import time_machine
from celery.exceptions import Retry
from django.core.files.storage import FileSystemStorage
from django.core.management import call_command
from django.core.management.base import CommandError
from pytest_django.fixtures import Settings

from cuspid.audit.actions import AuditAction
from cuspid.audit.models import AuditEvent
from cuspid.core import clock
from cuspid.core.actors import SystemActor
from cuspid.keys.blobs import blob_open, blob_put
from cuspid.keys.crypto import dek_cache, seal, sealed_key_id, unwrap
from cuspid.keys.errors import KeyDestroyed
from cuspid.keys.fields import Sealed
from cuspid.keys.kek import forget_loaded_kek, load_kek
from cuspid.keys.kek_rotation import kek_retire, kek_rotate
from cuspid.keys.keysets import key_ids
from cuspid.keys.models import DataKey, EncryptedBlob, OwnerKind
from cuspid.keys.rotation import (
    RotationUnfinished,
    dek_reencrypt,
    dek_retire,
    dek_rotate,
    owned_models,
    retire_after,
)
from cuspid.keys.services import owner_keys_shred
from cuspid.keys.tasks import dek_rotation_finish
from cuspid.patients.models import Patient
from cuspid.tenancy.models import Organization

pytestmark = pytest.mark.django_db

ACTOR = SystemActor(reason="test")
DOB = datetime.date(1990, 5, 17)
PATIENT = OwnerKind.PATIENT


@pytest.fixture
def blob_storage(tmp_path: Path) -> FileSystemStorage:
    return FileSystemStorage(location=tmp_path / "blobs")


def make_patient(clinic: Organization, notes: str = "notes") -> Patient:
    return Patient.objects.create(
        organization=clinic,
        given_name="Ada",
        family_name="Byron",
        date_of_birth=DOB,
        notes=notes,
        health_card="ON-1234",
    )


def stored_key_ids(patient: Patient) -> set[int]:
    loaded = Patient.objects.get(pk=patient.pk)
    return {
        sealed_key_id(value.ciphertext)
        for value in loaded.__dict__.values()
        if isinstance(value, Sealed)
    }


def data_key_of(owner_id: uuid.UUID, kind: str = PATIENT) -> DataKey:
    return DataKey.objects.get(owner_kind=kind, owner_id=owner_id)


def test_rotation_re_encrypts_fields_and_blob_keys_then_retires_the_old_key(
    clinic: Organization, blob_storage: FileSystemStorage, settings: Settings
) -> None:
    settings.CUSPID_DEK_CACHE_SECONDS = 0
    patient = make_patient(clinic, notes="before rotation")
    blob = blob_put(
        kind=PATIENT, owner_id=patient.id, source=io.BytesIO(b"scan bytes"), storage=blob_storage
    )
    old = data_key_of(patient.id).primary_key_id
    assert stored_key_ids(patient) == {old}

    rotated = dek_rotate(actor=ACTOR, kind=PATIENT, owner_id=patient.id)
    new = rotated.primary_key_id
    assert new != old
    assert set(key_ids(unwrap(rotated))) == {old, new}
    # Old ciphertexts still open before re-encryption; new writes use the new key.
    assert Patient.objects.get(pk=patient.pk).notes == "before rotation"
    other = make_patient(clinic)
    assert other.id != patient.id

    done = dek_reencrypt(kind=PATIENT, owner_id=patient.id, batch_size=1)
    assert done.rows == 1
    assert done.blobs == 1
    assert stored_key_ids(patient) == {new}
    assert EncryptedBlob.objects.get(pk=blob.pk).dek_key_id == new
    assert dek_reencrypt(kind=PATIENT, owner_id=patient.id).rows == 0

    assert dek_retire(actor=ACTOR, kind=PATIENT, owner_id=patient.id) == [old]
    retired = data_key_of(patient.id)
    assert key_ids(unwrap(retired)) == [new]
    assert retired.rotated_at is None
    dek_cache.clear()
    assert Patient.objects.get(pk=patient.pk).notes == "before rotation"
    with blob_open(EncryptedBlob.objects.get(pk=blob.pk), storage=blob_storage) as reader:
        assert reader.read() == b"scan bytes"
    assert AuditEvent.objects.filter(
        action=AuditAction.Keys.DekRotated, target_id=str(new), subject_patient=str(patient.id)
    ).exists()
    assert AuditEvent.objects.filter(action=AuditAction.Keys.Retired, target_id=str(old)).exists()
    # Nothing under way: retiring again is a no-op.
    assert dek_retire(actor=ACTOR, kind=PATIENT, owner_id=patient.id) == []


def test_a_rotation_under_way_is_resumed_not_doubled(clinic: Organization) -> None:
    patient = make_patient(clinic)
    first = dek_rotate(actor=ACTOR, kind=PATIENT, owner_id=patient.id)
    again = dek_rotate(actor=ACTOR, kind=PATIENT, owner_id=patient.id)
    assert again.primary_key_id == first.primary_key_id
    assert len(key_ids(unwrap(again))) == 2
    assert AuditEvent.objects.filter(action=AuditAction.Keys.DekRotated).count() == 1


def test_old_keys_do_not_retire_while_caches_or_stale_records_may_need_them(
    clinic: Organization, settings: Settings
) -> None:
    settings.CUSPID_DEK_CACHE_SECONDS = 300
    patient = make_patient(clinic)
    dek_rotate(actor=ACTOR, kind=PATIENT, owner_id=patient.id)
    with pytest.raises(RotationUnfinished, match="once every process"):
        dek_retire(actor=ACTOR, kind=PATIENT, owner_id=patient.id)
    assert retire_after(data_key_of(patient.id)).total_seconds() > 0
    with time_machine.travel(clock.now() + datetime.timedelta(seconds=301)):
        with pytest.raises(RotationUnfinished, match="1 records still use an old key"):
            dek_retire(actor=ACTOR, kind=PATIENT, owner_id=patient.id)
        dek_reencrypt(kind=PATIENT, owner_id=patient.id)
        assert len(dek_retire(actor=ACTOR, kind=PATIENT, owner_id=patient.id)) == 1
    assert retire_after(data_key_of(patient.id)).total_seconds() == 0


def test_a_shredded_key_cannot_be_rotated(clinic: Organization) -> None:
    patient = make_patient(clinic)
    owner_keys_shred(actor=ACTOR, kind=PATIENT, owner_id=patient.id)
    with pytest.raises(KeyDestroyed):
        dek_rotate(actor=ACTOR, kind=PATIENT, owner_id=patient.id)


def test_the_background_job_re_encrypts_and_waits_to_retire(
    clinic: Organization, settings: Settings
) -> None:
    settings.CUSPID_DEK_CACHE_SECONDS = 300
    patient = make_patient(clinic)
    old = data_key_of(patient.id).primary_key_id
    dek_rotate(actor=ACTOR, kind=PATIENT, owner_id=patient.id)
    # Too early to retire: the job re-encrypts, then asks to run again later (a worker
    # re-queues it with the countdown; called directly, the request to retry is raised).
    with pytest.raises(Retry):
        dek_rotation_finish(PATIENT.value, str(patient.id))
    assert stored_key_ids(patient) == {data_key_of(patient.id).primary_key_id}
    settings.CUSPID_DEK_CACHE_SECONDS = 0
    assert dek_rotation_finish(PATIENT.value, str(patient.id)) == [old]


def test_only_models_sealed_by_a_kind_are_re_encrypted_for_it() -> None:
    assert Patient in owned_models(PATIENT)
    assert Patient not in owned_models(OwnerKind.ORGANIZATION)


def test_the_command_rotates_in_the_background_or_here(
    clinic: Organization, settings: Settings
) -> None:
    settings.CUSPID_DEK_CACHE_SECONDS = 0
    settings.CELERY_TASK_ALWAYS_EAGER = True
    first, second = make_patient(clinic), make_patient(clinic)
    out = io.StringIO()
    call_command("keys_rotate_dek", "--patient", str(first.id), "--now", stdout=out)
    assert "re-encrypted 1 records and 0 files" in out.getvalue()
    assert "retired keys" in out.getvalue()
    assert len(key_ids(unwrap(data_key_of(first.id)))) == 1

    out = io.StringIO()
    call_command("keys_rotate_dek", "--all", stdout=out)
    assert (
        out.getvalue().count("re-encryption queued")
        == DataKey.objects.filter(destroyed_at__isnull=True)
        .exclude(owner_kind=OwnerKind.INDEX)
        .count()
    )
    assert stored_key_ids(second) == {data_key_of(second.id).primary_key_id}

    seal(OwnerKind.ORGANIZATION, clinic.id, b"clinic data", b"ad")
    out = io.StringIO()
    call_command("keys_rotate_dek", "--organization", str(clinic.id), "--now", stdout=out)
    assert "organization key" in out.getvalue()
    with pytest.raises(CommandError, match="no live data key"):
        call_command("keys_rotate_dek", "--organization", str(first.id))


def test_the_command_says_when_old_keys_must_wait(clinic: Organization, settings: Settings) -> None:
    settings.CUSPID_DEK_CACHE_SECONDS = 300
    patient = make_patient(clinic)
    out = io.StringIO()
    call_command("keys_rotate_dek", "--patient", str(patient.id), "--now", stdout=out)
    assert "Run again later to retire them" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_a_killed_rotation_is_resumed_by_running_the_command_again(
    tmp_path: Path, key_files: Path
) -> None:
    """Run the real command in a child process on a SQLite file, kill it half way through
    the re-encryption, run it again: it resumes with the same new key and finishes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CUSPID_", "AWS_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        CUSPID_DATABASE_URL=f"sqlite:///{tmp_path / 'rotation.sqlite3'}",
        CUSPID_KEK_PATH=str(key_files / "kek.json"),
        CUSPID_FORGET_LIST=str(key_files / "forget-list"),
        CUSPID_VAR_DIR=str(tmp_path / "var"),
        CUSPID_DEK_CACHE_SECONDS="0",
        PYTHONUNBUFFERED="1",
    )
    manage = [sys.executable, "manage.py"]
    setup = (
        "import datetime, io\n"
        "from django.core.management import call_command\n"
        "call_command('migrate', verbosity=0)\n"
        "from cuspid.keys.blobs import blob_put\n"
        "from cuspid.patients.models import Patient\n"
        "from tests.factories import make_organization\n"
        "clinic = make_organization(name='Kill Clinic')\n"
        "patient = Patient.objects.create(organization=clinic, given_name='A',"
        " family_name='B', date_of_birth=datetime.date(2000, 1, 1), notes='kept notes')\n"
        "for n in range(3):\n"
        "    blob_put(kind='patient', owner_id=patient.id, source=io.BytesIO(b'scan-%d' % n))\n"
        "print(patient.id)\n"
    )
    patient_id = subprocess.run(
        [*manage, "shell", "-v0", "-c", setup],
        env=env,
        check=True,
        timeout=300,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # One record per batch and a long pause after each: killed after the first batch, the
    # key has its new primary, the patient row is re-encrypted, the three files are not.
    child = subprocess.Popen(
        [
            *manage,
            "keys_rotate_dek",
            "--patient",
            patient_id,
            "--now",
            "--batch-size=1",
            "--pause=60",
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    deadline = time.monotonic() + 120
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines.append(child.stdout.readline().strip())
        if lines[-1].endswith("re-encrypted 1 records so far") or not lines[-1]:
            break
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    assert lines[-1].endswith("re-encrypted 1 records so far"), lines
    check = (
        "from cuspid.keys.models import DataKey, EncryptedBlob\n"
        "from cuspid.keys.crypto import unwrap\n"
        "from cuspid.keys.keysets import key_ids\n"
        "from cuspid.keys.blobs import blob_open\n"
        "from cuspid.patients.models import Patient\n"
        f"key = DataKey.objects.get(owner_kind='patient', owner_id='{patient_id}')\n"
        "stale = EncryptedBlob.objects.exclude(dek_key_id=key.primary_key_id).count()\n"
        "files = sorted(blob_open(blob).read().decode() for blob in EncryptedBlob.objects.all())\n"
        f"notes = Patient.objects.get(pk='{patient_id}').notes\n"
        "print(len(key_ids(unwrap(key))), key.primary_key_id, key.rotated_at is not None,"
        " stale, '|'.join(files), notes.replace(' ', '_'))\n"
    )

    def state() -> list[str]:
        return subprocess.run(
            [*manage, "shell", "-v0", "-c", check],
            env=env,
            check=True,
            timeout=120,
            capture_output=True,
            text=True,
        ).stdout.split()

    keys, primary, rotating, stale, files, notes = state()
    assert (keys, rotating, stale) == ("2", "True", "3")
    # Half rotated, everything still opens.
    assert (files, notes) == ("scan-0|scan-1|scan-2", "kept_notes")
    resumed = subprocess.run(
        [*manage, "keys_rotate_dek", "--patient", patient_id, "--now"],
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    ).stdout
    assert f"patient key {primary}: re-encrypted 0 records and 3 files" in resumed
    assert f"patient key {primary}: retired keys" in resumed
    assert state() == ["1", primary, "False", "0", "scan-0|scan-1|scan-2", "kept_notes"]


def test_keys_status_shows_ids_ages_and_counts(clinic: Organization) -> None:
    patient = make_patient(clinic)
    make_patient(clinic)
    shredded = make_patient(clinic)
    owner_keys_shred(actor=ACTOR, kind=PATIENT, owner_id=shredded.id)
    dek_rotate(actor=ACTOR, kind=PATIENT, owner_id=patient.id)
    out = io.StringIO()
    call_command("keys_status", "--list", stdout=out)
    text = out.getvalue()
    assert "plaintext keyset file" in text
    assert "re-wrap   0 data keys" in text
    patient_line = next(line for line in text.splitlines() if line.strip().startswith("patient "))
    assert patient_line.split()[1:4] == ["2", "1", "1"]
    assert "Forget list      1 destroyed keys" in text
    assert f"{patient.id}  key {data_key_of(patient.id).primary_key_id}" in text
    assert "rotating" in text
    assert "destroyed" in text
    assert "Ada" not in text

    out = io.StringIO()
    call_command("keys_status", stdout=out)
    assert str(patient.id) not in out.getvalue()


def test_a_kek_rotation_leaves_every_field_and_file_readable(
    clinic: Organization, blob_storage: FileSystemStorage
) -> None:
    patient = make_patient(clinic, notes="kept through a master key rotation")
    blob = blob_put(
        kind=PATIENT, owner_id=patient.id, source=io.BytesIO(b"scan"), storage=blob_storage
    )
    first = load_kek().primary_key_id
    report = kek_rotate(actor=ACTOR)
    assert report.primary_key_id != first
    assert kek_retire(actor=ACTOR) == [first]
    forget_loaded_kek()
    dek_cache.clear()
    assert set(DataKey.objects.values_list("kek_key_id", flat=True)) == {report.primary_key_id}
    loaded = Patient.objects.get(pk=patient.pk)
    assert loaded.notes == "kept through a master key rotation"
    assert loaded.health_card == "ON-1234"
    with blob_open(EncryptedBlob.objects.get(pk=blob.pk), storage=blob_storage) as reader:
        assert reader.read() == b"scan"
