"""Second-factor secrets are sealed with the platform key: the database holds no TOTP secret."""

from __future__ import annotations

import importlib

import pytest
import tink
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.apps import apps

from cuspid.accounts.adapter import MFAAdapter
from cuspid.accounts.services.mfa import totp_current_code
from cuspid.keys.crypto import seal_secret, unseal_secret
from tests.factories import TEST_TOTP_SECRET, enrol_totp, make_user, totp_code

pytestmark = pytest.mark.django_db

seal_mfa_secrets = importlib.import_module("cuspid.accounts.migrations.0003_seal_mfa_secrets")


def test_a_totp_secret_is_stored_sealed_and_still_checks_codes() -> None:
    user = make_user()
    authenticator = enrol_totp(user)
    stored = Authenticator.objects.get(pk=authenticator.pk).data["secret"]
    assert stored.startswith("tink1:")
    assert TEST_TOTP_SECRET not in stored
    assert totp_current_code(user) == totp_code()


def test_recovery_code_seeds_are_sealed_and_codes_still_work() -> None:
    user = make_user()
    codes = RecoveryCodes.activate(user)
    stored = Authenticator.objects.get(pk=codes.instance.pk).data["seed"]
    assert stored.startswith("tink1:")
    first = codes.get_unused_codes()[0]
    assert RecoveryCodes(Authenticator.objects.get(pk=codes.instance.pk)).validate_code(first)


def test_a_secret_sealed_for_one_purpose_does_not_open_for_another() -> None:
    sealed = seal_secret("JBSWY3DPEHPK3PXP", "mfa")
    assert unseal_secret(sealed, "mfa") == "JBSWY3DPEHPK3PXP"
    with pytest.raises(tink.TinkError):
        unseal_secret(sealed, "another")
    with pytest.raises(ValueError, match="not a sealed secret"):
        MFAAdapter().decrypt("JBSWY3DPEHPK3PXP")


def test_the_migration_seals_secrets_written_in_the_clear_once() -> None:
    user = make_user()
    Authenticator.objects.create(
        user=user, type=Authenticator.Type.TOTP, data={"secret": TEST_TOTP_SECRET}
    )
    Authenticator.objects.create(
        user=user,
        type=Authenticator.Type.RECOVERY_CODES,
        data={"seed": "00ff", "migrated_codes": ["abc123", seal_secret("def456", "mfa")]},
    )
    seal_mfa_secrets.seal_existing(apps, None)
    totp = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    assert unseal_secret(totp.data["secret"], "mfa") == TEST_TOTP_SECRET
    assert totp_current_code(user) == totp_code()
    recovery = Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    assert [unseal_secret(code, "mfa") for code in recovery.data["migrated_codes"]] == [
        "abc123",
        "def456",
    ]
    assert unseal_secret(recovery.data["seed"], "mfa") == "00ff"
    before = {row.pk: row.data for row in Authenticator.objects.filter(user=user)}
    seal_mfa_secrets.seal_existing(apps, None)
    assert {row.pk: row.data for row in Authenticator.objects.filter(user=user)} == before
