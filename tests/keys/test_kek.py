"""The master key (KEK): Tink primitives, the keyset file encrypted by a KMS key (AWS KMS on
moto's server), reloading after another process changed the file, atomic saves, and the
deploy check that warns about a plaintext keyset file."""

from __future__ import annotations

import json
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import tink
from django.core.checks import Warning
from django.core.checks.registry import registry
from django.core.exceptions import ImproperlyConfigured
from pytest_django.fixtures import Settings
from tink import aead, prf, secret_key_access, streaming_aead
from tink.integration import awskms

from cuspid.keys import kek, keysets
from cuspid.keys.checks import kek_in_kms_check
from cuspid.keys.crypto import dek_cache, seal, unseal
from cuspid.keys.kek import (
    KMS_CONTEXT,
    forget_loaded_kek,
    kek_keyset_load,
    kek_keyset_save,
    load_kek,
    register_primitives,
)
from cuspid.keys.models import DataKey, OwnerKind

AD = b"patients_patient:notes:row-1"


@pytest.fixture(autouse=True)
def plaintext_kek(settings: Settings) -> None:
    """No KMS unless a test names a key."""
    settings.CUSPID_KEK_URI = ""


@pytest.fixture
def kms_uri(aws_endpoint: str, settings: Settings) -> Iterator[str]:
    """A fresh KMS key on the moto server, named in CUSPID_KEK_URI."""
    client = boto3.client("kms", region_name="us-east-1")
    arn = client.create_key(Description="cuspid test KEK")["KeyMetadata"]["Arn"]
    uri = f"aws-kms://{arn}"
    settings.CUSPID_KEK_URI = uri
    yield uri
    forget_loaded_kek()


def _kms_aead(uri: str) -> aead.Aead:
    client = boto3.client("kms", region_name="us-east-1")
    return awskms.new_client(boto3_client=client, key_uri=uri).get_aead(uri)


def test_streaming_aead_and_prf_are_registered_too(tmp_path: Path) -> None:
    register_primitives()
    register_primitives()  # idempotent
    streaming = tink.new_keyset_handle(
        streaming_aead.streaming_aead_key_templates.AES256_GCM_HKDF_1MB
    ).primitive(streaming_aead.StreamingAead)
    with (
        (tmp_path / "scan").open("wb") as sealed,
        streaming.new_encrypting_stream(sealed, b"ad") as stream,
    ):
        stream.write(b"scan")
    with (
        (tmp_path / "scan").open("rb") as source,
        streaming.new_decrypting_stream(source, b"ad") as stream,
    ):
        assert stream.read() == b"scan"
    prf_set = tink.new_keyset_handle(prf.prf_key_templates.HMAC_SHA256).primitive(prf.PrfSet)
    assert len(prf_set.primary().compute(b"email", 32)) == 32


def test_the_kek_is_loaded_once_while_its_file_is_unchanged() -> None:
    assert load_kek() is load_kek()


def test_a_rotation_by_another_process_is_seen_without_a_restart(key_files: Path) -> None:
    before = load_kek()
    # What keys_rotate_kek does in its own process: a new primary, saved to the file.
    rotated, new_id = keysets.with_new_primary(
        kek_keyset_load(), aead.aead_key_templates.AES256_GCM
    )
    kek_keyset_save(rotated)
    after = load_kek()
    assert after.primary_key_id == new_id != before.primary_key_id
    # The reloaded KEK still opens what the old primary wrapped.
    wrapped = before.aead.encrypt(b"dek", b"ctx")
    assert after.aead.decrypt(wrapped, b"ctx") == b"dek"


def test_a_saved_keyset_replaces_the_file_whole_with_owner_only_permissions(
    key_files: Path,
) -> None:
    handle = kek_keyset_load()
    kek_keyset_save(keysets.with_new_primary(handle, aead.aead_key_templates.AES256_GCM)[0])
    assert stat.S_IMODE((key_files / "kek.json").stat().st_mode) == 0o600
    assert sorted(os.listdir(key_files)) == ["kek.json"]  # no temporary file left behind
    assert len(keysets.key_ids(kek_keyset_load())) == 2


def test_a_failed_save_leaves_no_temporary_file(key_files: Path, settings: Settings) -> None:
    handle = kek_keyset_load()
    # The target is a directory: the rename fails after the temporary file was written.
    settings.CUSPID_KEK_PATH = key_files / "occupied"
    (key_files / "occupied").mkdir()
    with pytest.raises(OSError, match="directory"):
        kek_keyset_save(handle)
    assert sorted(os.listdir(key_files)) == ["kek.json", "occupied"]


def test_a_failed_write_leaves_no_temporary_file(key_files: Path) -> None:
    key_files.mkdir(mode=0o700)
    with pytest.raises(UnicodeEncodeError):
        kek._write_temporary(key_files, "\ud800")  # a lone surrogate: not writable as UTF-8
    assert os.listdir(key_files) == []


def test_a_failed_link_on_creation_leaves_no_temporary_file(key_files: Path) -> None:
    key_files.mkdir(mode=0o700)
    with pytest.raises(OSError, match="too long"):
        kek._create(key_files / ("k" * 300))
    assert os.listdir(key_files) == []


def test_the_kms_encrypts_the_keyset_file_and_data_keys_still_wrap(
    db: None, kms_uri: str, key_files: Path
) -> None:
    owner = uuid.uuid4()
    sealed = seal(OwnerKind.PATIENT, owner, b"canary-kms", AD)
    text = (key_files / "kek.json").read_text(encoding="utf-8")
    # On disk: Tink's encrypted keyset format, no key material in the clear.
    assert set(json.loads(text)) == {"encryptedKeyset", "keysetInfo"}
    assert "keyMaterialType" not in text
    assert '"value"' not in text
    with pytest.raises(tink.TinkError):
        tink.json_proto_keyset_format.parse(text, secret_key_access.TOKEN)
    opened = tink.json_proto_keyset_format.parse_encrypted(text, _kms_aead(kms_uri), KMS_CONTEXT)
    assert opened.keyset_info().primary_key_id == load_kek().primary_key_id
    assert DataKey.objects.get(owner_id=owner).kek_key_id == load_kek().primary_key_id
    # A new process (nothing loaded or cached) opens the file through the KMS again.
    forget_loaded_kek()
    dek_cache.clear()
    assert unseal(OwnerKind.PATIENT, owner, sealed, AD) == b"canary-kms"


def test_a_keyset_saved_under_a_kms_key_stays_encrypted(kms_uri: str, key_files: Path) -> None:
    handle = kek_keyset_load()
    rotated, new_id = keysets.with_new_primary(handle, aead.aead_key_templates.AES256_GCM)
    kek_keyset_save(rotated)
    text = (key_files / "kek.json").read_text(encoding="utf-8")
    assert "keyMaterialType" not in text
    opened = tink.json_proto_keyset_format.parse_encrypted(text, _kms_aead(kms_uri), KMS_CONTEXT)
    assert opened.keyset_info().primary_key_id == new_id
    assert load_kek().primary_key_id == new_id


def test_another_kms_key_does_not_open_the_keyset(
    kms_uri: str, settings: Settings, key_files: Path
) -> None:
    load_kek()
    other = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
    settings.CUSPID_KEK_URI = f"aws-kms://{other}"
    forget_loaded_kek()
    with pytest.raises(tink.TinkError):
        load_kek()


def test_a_plaintext_keyset_does_not_open_as_a_kms_encrypted_one(
    kms_uri: str, settings: Settings
) -> None:
    settings.CUSPID_KEK_URI = ""
    load_kek()
    settings.CUSPID_KEK_URI = kms_uri
    forget_loaded_kek()
    with pytest.raises(tink.TinkError):
        load_kek()


@pytest.mark.parametrize(
    "uri",
    [
        "gcp-kms://projects/p/locations/global/keyRings/r/cryptoKeys/k",
        "hcvault://vault.example/transit/keys/cuspid",
        "aws-kms://alias/cuspid",
        "arn:aws:kms:us-east-1:123456789012:key/abc",
    ],
)
def test_an_unsupported_kms_uri_is_refused_clearly(settings: Settings, uri: str) -> None:
    settings.CUSPID_KEK_URI = uri
    with pytest.raises(ImproperlyConfigured, match="CUSPID_KEK_URI must name an AWS KMS key"):
        load_kek()


def test_the_deploy_check_warns_about_a_plaintext_keyset_file(settings: Settings) -> None:
    [warning] = kek_in_kms_check()
    assert isinstance(warning, Warning)
    assert warning.id == "cuspid.keys.W001"
    assert "CUSPID_KEK_URI" in str(warning.hint)
    settings.CUSPID_KEK_URI = "aws-kms://arn:aws:kms:eu-west-3:123456789012:key/k"
    assert kek_in_kms_check() == []


def test_the_check_runs_only_with_deploy() -> None:
    assert kek_in_kms_check in registry.get_checks(include_deployment_checks=True)
    assert kek_in_kms_check not in registry.get_checks(include_deployment_checks=False)
