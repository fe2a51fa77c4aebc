"""Rotating the master key (KEK): every data key re-wrapped, data still readable, older keys
retired only once nothing needs them, and a rotation killed half-way resumed by running the
command again (a real ``manage.py keys_rotate_kek`` process, killed with SIGKILL)."""

from __future__ import annotations

import fcntl
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import uuid
from contextlib import closing
from pathlib import Path

import boto3
import pytest
import tink
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from pytest_django.fixtures import Settings
from tink import aead

from cuspid.audit.actions import AuditAction
from cuspid.audit.models import AuditEvent
from cuspid.audit.verify import audit_chain_verify
from cuspid.core.actors import SystemActor
from cuspid.keys import keysets
from cuspid.keys.crypto import dek_cache, seal, unseal, wrap_context
from cuspid.keys.kek import forget_loaded_kek, kek_keyset_load, load_kek
from cuspid.keys.kek_rotation import (
    KekRotationError,
    RotationReport,
    kek_add_primary,
    kek_retire,
    kek_rotate,
)
from cuspid.keys.models import DataKey, OwnerKind
from cuspid.keys.services import owner_keys_shred

ACTOR = SystemActor(reason="test")
AD = b"patients_patient:notes:row-1"
REPO = Path(django_settings.BASE_DIR)


@pytest.fixture(autouse=True)
def plaintext_kek(settings: Settings) -> None:
    """No KMS unless a test names a key."""
    settings.CUSPID_KEK_URI = ""


Sealed = dict[tuple[OwnerKind, uuid.UUID], tuple[bytes, bytes]]


def _seal_for_owners(count: int) -> Sealed:
    """A value sealed for each of ``count`` owners (patients, and one organisation):
    (plaintext, ciphertext) by owner."""
    sealed = {}
    for index in range(count):
        kind = OwnerKind.ORGANIZATION if index == 0 else OwnerKind.PATIENT
        owner = uuid.uuid4()
        plaintext = f"canary-{index}".encode()
        sealed[kind, owner] = (plaintext, seal(kind, owner, plaintext, AD))
    return sealed


def _all_readable_after_a_restart(sealed: Sealed) -> None:
    """Nothing loaded or cached (as in a new process): every value opens."""
    forget_loaded_kek()
    dek_cache.clear()
    for (kind, owner), (plaintext, ciphertext) in sealed.items():
        assert unseal(kind, owner, ciphertext, AD) == plaintext


def _kek_events() -> list[tuple[str, str, str]]:
    return [
        (event.action, event.purpose, event.target_id)
        for event in AuditEvent.objects.filter(
            action__in=[AuditAction.Keys.KekRotated, AuditAction.Keys.Retired]
        ).order_by("sequence")
    ]


def test_a_rotation_rewraps_every_data_key_and_keeps_data_readable(db: None) -> None:
    sealed = _seal_for_owners(5)
    old_primary = load_kek().primary_key_id
    shredded_owner = next(owner for kind, owner in sealed if kind == OwnerKind.PATIENT)
    owner_keys_shred(actor=ACTOR, kind=OwnerKind.PATIENT, owner_id=shredded_owner)
    shredded = DataKey.objects.get(owner_id=shredded_owner)
    seen: list[tuple[int, int]] = []

    report = kek_rotate(actor=ACTOR, progress=lambda *step: seen.append(step), batch_size=2)

    kek_ids = keysets.key_ids(kek_keyset_load())
    assert kek_ids == [old_primary, report.primary_key_id]
    assert report == RotationReport(primary_key_id=kek_ids[1], resumed=False, rewrapped=4)
    assert seen == [(2, 4), (4, 4)]
    live = DataKey.objects.filter(destroyed_at__isnull=True)
    assert {key.kek_key_id for key in live} == {report.primary_key_id}
    # The shredded key stays shredded: nothing to re-wrap, nothing brought back.
    assert DataKey.objects.get(pk=shredded.pk).kek_key_id == shredded.kek_key_id
    assert _kek_events() == [
        (AuditAction.Keys.KekRotated, "kek_rotation_started", str(report.primary_key_id)),
        (AuditAction.Keys.KekRotated, "kek_rotation_finished", str(report.primary_key_id)),
    ]
    del sealed[OwnerKind.PATIENT, shredded_owner]
    # Every process sees the new primary without a restart, and new data keys use it.
    assert load_kek().primary_key_id == report.primary_key_id
    newcomer = uuid.uuid4()
    seal(OwnerKind.PATIENT, newcomer, b"x", AD)
    assert DataKey.objects.get(owner_id=newcomer).kek_key_id == report.primary_key_id
    # Data is readable with only the new key: retire the old one and read everything again.
    assert kek_retire(actor=ACTOR) == [old_primary]
    assert keysets.key_ids(kek_keyset_load()) == [report.primary_key_id]
    assert _kek_events()[-1] == (AuditAction.Keys.Retired, "kek_retirement", str(old_primary))
    _all_readable_after_a_restart(sealed)
    assert audit_chain_verify().ok


def test_a_rotation_interrupted_after_one_batch_resumes_without_a_new_key(db: None) -> None:
    sealed = _seal_for_owners(5)
    first = load_kek().primary_key_id

    def crash(done: int, total: int) -> None:
        raise KeyboardInterrupt  # as if the operator pressed Ctrl-C after the first batch

    with pytest.raises(KeyboardInterrupt):
        kek_rotate(actor=ACTOR, progress=crash, batch_size=2)
    second = load_kek().primary_key_id
    assert DataKey.objects.filter(kek_key_id=second).count() == 2
    # Half-way, the data still opens (the KEK holds both keys), and retiring is refused.
    _all_readable_after_a_restart(sealed)
    with pytest.raises(KekRotationError, match="3 data keys are still wrapped"):
        kek_retire(actor=ACTOR)

    report = kek_rotate(actor=ACTOR, batch_size=2)

    assert report == RotationReport(primary_key_id=second, resumed=True, rewrapped=3)
    assert keysets.key_ids(kek_keyset_load()) == [first, second]
    assert set(DataKey.objects.values_list("kek_key_id", flat=True)) == {second}
    assert [purpose for _, purpose, _ in _kek_events()] == [
        "kek_rotation_started",
        "kek_rotation_resumed",
        "kek_rotation_finished",
    ]
    assert kek_retire(actor=ACTOR) == [first]
    _all_readable_after_a_restart(sealed)


def test_a_rotation_with_no_data_keys_adds_a_key_and_finishes(db: None) -> None:
    first = load_kek().primary_key_id
    report = kek_rotate(actor=ACTOR)
    assert report.rewrapped == 0
    assert not report.resumed
    assert keysets.key_ids(kek_keyset_load()) == [first, report.primary_key_id]
    assert [purpose for _, purpose, _ in _kek_events()] == [
        "kek_rotation_started",
        "kek_rotation_finished",
    ]


def test_retiring_with_a_single_key_retires_nothing(db: None) -> None:
    load_kek()
    before = keysets.key_ids(kek_keyset_load())
    assert kek_retire(actor=ACTOR) == []
    assert keysets.key_ids(kek_keyset_load()) == before
    assert _kek_events() == []


def test_kek_add_primary_keeps_the_older_keys(db: None) -> None:
    first = load_kek().primary_key_id
    new_id = kek_add_primary()
    assert keysets.key_ids(kek_keyset_load()) == [first, new_id]
    assert load_kek().primary_key_id == new_id


def test_a_data_key_no_key_of_the_kek_opens_stops_the_rotation(db: None) -> None:
    # Wrapped by a master key that was retired without a copy: the rotation cannot move it.
    owner = uuid.uuid4()
    stranger = tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM).primitive(aead.Aead)
    dek = tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM)
    DataKey.objects.create(
        owner_kind=OwnerKind.PATIENT,
        owner_id=owner,
        wrapped_keyset=tink.proto_keyset_format.serialize_encrypted(
            dek, stranger, wrap_context(OwnerKind.PATIENT, owner)
        ),
        primary_key_id=dek.keyset_info().primary_key_id,
        kek_key_id=12345,
    )
    with pytest.raises(KekRotationError, match="master key 12345"):
        kek_rotate(actor=ACTOR)


def test_a_batch_size_below_one_is_refused(db: None) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        kek_rotate(actor=ACTOR, batch_size=0)


def test_only_one_rotation_runs_at_a_time(db: None, key_files: Path) -> None:
    load_kek()
    with (key_files / "kek.json.lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another run holds the lock
        with pytest.raises(KekRotationError, match="Another master key rotation"):
            kek_rotate(actor=ACTOR)
        with pytest.raises(KekRotationError, match="Another master key rotation"):
            kek_retire(actor=ACTOR)
        with pytest.raises(CommandError, match="Another master key rotation"):
            call_command("keys_rotate_kek")
    assert _kek_events() == []


def test_a_rotation_under_a_kms_key_keeps_the_keyset_file_encrypted(
    db: None, aws_endpoint: str, settings: Settings, key_files: Path
) -> None:
    arn = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
    settings.CUSPID_KEK_URI = f"aws-kms://{arn}"
    sealed = _seal_for_owners(3)
    report = kek_rotate(actor=ACTOR)
    assert report.rewrapped == 3
    assert kek_retire(actor=ACTOR)
    text = (key_files / "kek.json").read_text(encoding="utf-8")
    assert "keyMaterialType" not in text
    assert set(json.loads(text)) == {"encryptedKeyset", "keysetInfo"}
    _all_readable_after_a_restart(sealed)


def test_the_command_prints_progress_and_retires(db: None) -> None:
    sealed = _seal_for_owners(3)
    first = load_kek().primary_key_id
    out = io.StringIO()
    call_command("keys_rotate_kek", "--batch-size=2", "--pause=0.001", stdout=out)
    primary = load_kek().primary_key_id
    assert out.getvalue().splitlines() == [
        "re-wrapped 2/3 data keys",
        "re-wrapped 3/3 data keys",
        f"master key rotation finished: 3 data keys re-wrapped, primary key {primary}",
    ]
    _all_readable_after_a_restart(sealed)
    # --retire starts no rotation: it retires the first key and nothing else. The output
    # names key ids only, never key material.
    out = io.StringIO()
    call_command("keys_rotate_kek", "--retire", stdout=out)
    assert out.getvalue().splitlines() == [f"retired older master keys: {first}"]
    assert keysets.key_ids(kek_keyset_load()) == [primary]
    assert "keyMaterialType" not in out.getvalue()
    _all_readable_after_a_restart(sealed)


def test_the_command_resumes_and_refuses_bad_options(db: None) -> None:
    _seal_for_owners(3)
    with pytest.raises(KeyboardInterrupt):
        kek_rotate(actor=ACTOR, progress=_interrupt, batch_size=1)
    out = io.StringIO()
    call_command("keys_rotate_kek", stdout=out)
    primary = load_kek().primary_key_id
    assert out.getvalue().splitlines() == [
        "re-wrapped 2/2 data keys",
        f"master key rotation resumed and finished: 2 data keys re-wrapped, primary key {primary}",
    ]
    for bad in ("--batch-size=0", "--pause=-1", "--pause=nan"):
        with pytest.raises(CommandError):
            call_command("keys_rotate_kek", bad)


def test_data_keys_of_unknown_wrapping_are_rewrapped_without_a_new_key(db: None) -> None:
    # kek_key_id 0: wrapped before the id was recorded. The rotation treats them as left
    # over, re-wraps them under the current primary, and there is nothing to retire.
    sealed = _seal_for_owners(2)
    primary = load_kek().primary_key_id
    DataKey.objects.update(kek_key_id=0)
    out = io.StringIO()
    call_command("keys_rotate_kek", "--retire", stdout=out)
    assert out.getvalue().splitlines()[-2:] == [
        f"master key rotation resumed and finished: 2 data keys re-wrapped, primary key {primary}",
        "retired older master keys: none",
    ]
    assert set(DataKey.objects.values_list("kek_key_id", flat=True)) == {primary}
    _all_readable_after_a_restart(sealed)


def _interrupt(done: int, total: int) -> None:
    raise KeyboardInterrupt


# --- A real process, killed half-way -------------------------------------------------------

SETUP = """
import json, sys, uuid
import django
django.setup()
from django.core.management import call_command
from cuspid.keys.crypto import seal
from cuspid.keys.models import OwnerKind
call_command("migrate", verbosity=0)
sealed = {}
for index in range(int(sys.argv[1])):
    owner = uuid.uuid4()
    sealed[str(owner)] = seal(OwnerKind.PATIENT, owner, b"canary-%d" % index, b"ad").hex()
print(json.dumps(sealed))
"""
DATA_KEYS = 8
PROCESS_TIMEOUT = 120


def _child_env(tmp_path: Path, key_files: Path) -> dict[str, str]:
    """A fresh process's environment: its own file database, this test's KEK and forget list,
    and no CUSPID_* setting leaking in from the test run."""
    child = {k: v for k, v in os.environ.items() if not k.startswith(("CUSPID_", "AWS_"))}
    child.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        CUSPID_VAR_DIR=str(tmp_path / "var"),
        CUSPID_DATABASE_URL=f"sqlite:///{tmp_path / 'rotation.sqlite3'}",
        CUSPID_KEK_PATH=str(key_files / "kek.json"),
        CUSPID_FORGET_LIST=str(key_files / "forget-list"),
        PYTHONUNBUFFERED="1",
    )
    return child


def _rotate_command(*options: str) -> list[str]:
    return [sys.executable, "manage.py", "keys_rotate_kek", "--batch-size=1", *options]


def _data_keys(database: Path) -> list[tuple[str, str, bytes, int]]:
    with closing(sqlite3.connect(database)) as connection:
        return connection.execute(
            "SELECT owner_kind, owner_id, wrapped_keyset, kek_key_id FROM keys_datakey"
        ).fetchall()


def _kek_purposes(database: Path) -> list[str]:
    with closing(sqlite3.connect(database)) as connection:
        rows = connection.execute(
            "SELECT purpose FROM audit_auditevent WHERE action = ? ORDER BY sequence",
            [str(AuditAction.Keys.KekRotated)],
        ).fetchall()
    return [purpose for (purpose,) in rows]


def test_killing_the_command_half_way_and_running_it_again_finishes_the_rotation(
    tmp_path: Path, key_files: Path
) -> None:
    env = _child_env(tmp_path, key_files)
    database = tmp_path / "rotation.sqlite3"
    made = subprocess.run(
        [sys.executable, "-c", SETUP, str(DATA_KEYS)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
        check=False,
    )
    assert made.returncode == 0, made.stderr[-3000:]
    sealed: dict[str, str] = json.loads(made.stdout.splitlines()[-1])
    first = kek_keyset_load().keyset_info().primary_key_id

    # One data key per batch and a pause after each: killed after the second batch, while
    # it waits before the third.
    child = subprocess.Popen(
        _rotate_command("--pause=2"),
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(PROCESS_TIMEOUT, child.kill)
    watchdog.start()
    try:
        assert child.stdout is not None
        lines = []
        for line in child.stdout:
            lines.append(line.strip())
            if line.startswith("re-wrapped 2/"):
                child.send_signal(signal.SIGKILL)
                break
        assert child.wait() == -signal.SIGKILL, (lines, child.stderr.read() if child.stderr else "")
    finally:
        watchdog.cancel()
        child.kill()
        child.wait()
    assert lines == [f"re-wrapped 1/{DATA_KEYS} data keys", f"re-wrapped 2/{DATA_KEYS} data keys"]
    second = kek_keyset_load().keyset_info().primary_key_id
    assert second != first
    moved = [row for row in _data_keys(database) if row[3] == second]
    assert 0 < len(moved) < DATA_KEYS
    assert _kek_purposes(database) == ["kek_rotation_started"]

    again = subprocess.run(
        _rotate_command("--retire"),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
        check=False,
    )

    assert again.returncode == 0, again.stderr[-3000:]
    output = again.stdout.splitlines()
    left = DATA_KEYS - len(moved)
    assert output[0] == f"re-wrapped 1/{left} data keys"
    assert output[-2] == (
        f"master key rotation resumed and finished: {left} data keys re-wrapped, "
        f"primary key {second}"
    )
    assert output[-1] == f"retired older master keys: {first}"
    # No third key was added: the second run finished the first run's rotation.
    assert keysets.key_ids(kek_keyset_load()) == [second]
    assert _kek_purposes(database) == [
        "kek_rotation_started",
        "kek_rotation_resumed",
        "kek_rotation_finished",
    ]
    rows = _data_keys(database)
    assert {row[3] for row in rows} == {second}
    # Every data key opens with the rotated KEK alone, and opens what it sealed.
    kek = load_kek()
    opened = set()
    for kind, owner_hex, wrapped, _ in rows:
        owner = uuid.UUID(owner_hex)
        dek = tink.proto_keyset_format.parse_encrypted(
            bytes(wrapped), kek.aead, wrap_context(kind, owner)
        ).primitive(aead.Aead)
        opened.add(dek.decrypt(bytes.fromhex(sealed[str(owner)]), b"ad"))
    assert opened == {b"canary-%d" % index for index in range(DATA_KEYS)}
