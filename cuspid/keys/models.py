"""Data keys (DEKs), each stored wrapped by the master key (KEK)."""

from __future__ import annotations

from django.db import models

from cuspid.core.models import BaseModel


class OwnerKind(models.TextChoices):
    """Whose data a key seals. A patient's and an organisation's DEKs seal their data; a
    user's seals account secrets; ``index`` is an organisation's blind-index (PRF) key;
    ``system`` is the one platform-wide key (owner id all zeros)."""

    PATIENT = "patient", "patient"
    ORGANIZATION = "organization", "organization"
    USER = "user", "user"
    INDEX = "index", "index"
    SYSTEM = "system", "system"


class DataKey(BaseModel):
    """One Tink AES256_GCM keyset per owner (a patient or an organisation).

    ``wrapped_keyset`` is the keyset encrypted by the KEK, with associated data naming the
    owner, so a wrapped keyset moved to another row does not open. ``primary_key_id`` is
    Tink's id of the primary key (audited on rotation and shredding; not secret). Shredding
    empties ``wrapped_keyset`` and sets ``destroyed_at``; the id goes to the forget list.
    """

    owner_kind = models.CharField(max_length=16, choices=OwnerKind.choices)
    owner_id = models.UUIDField()
    wrapped_keyset = models.BinaryField()
    primary_key_id = models.BigIntegerField()
    # The id of the KEK key that wrapped this keyset (0: unknown, re-wrapped by the next KEK
    # rotation). A KEK rotation re-wraps every row whose id is not the KEK's primary.
    kek_key_id = models.BigIntegerField(default=0)
    # When a DEK rotation last added a primary key; older keys retire once nothing they
    # sealed remains and every process's cache has seen the new primary.
    rotated_at = models.DateTimeField(null=True, blank=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["owner_kind", "owner_id"], name="keys_datakey_one_per_owner"
            ),
        ]

    def __str__(self) -> str:
        return f"data key {self.primary_key_id} of {self.owner_kind}"


class EncryptedBlob(BaseModel):
    """One stored file, sealed with streaming AEAD under a key of its own.

    The file's own key (an AES256_GCM_HKDF_1MB keyset) is stored here sealed with its owner's
    DEK (``wrapped_key``, associated data naming this row), so shredding the owner's DEK makes
    the file unreadable, and rotating the DEK re-seals only this small key. The ciphertext lives
    in the blob storage under a name made from this row's id, never from anything the user
    typed. ``sha256`` is the plaintext's digest, for integrity checks and for signed approvals.
    """

    owner_kind = models.CharField(max_length=16, choices=OwnerKind.choices)
    owner_id = models.UUIDField()
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    wrapped_key = models.BinaryField()
    # The DEK key id that sealed ``wrapped_key``: a DEK rotation re-seals rows whose id is not
    # the DEK's primary.
    dek_key_id = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["owner_kind", "owner_id"], name="keys_blob_owner")]

    def __str__(self) -> str:
        return f"blob {self.id}"
