"""Data keys (DEKs), each stored wrapped by the master key (KEK)."""

from __future__ import annotations

from django.db import models

from cuspid.core.models import BaseModel


class OwnerKind(models.TextChoices):
    PATIENT = "patient", "patient"
    ORGANIZATION = "organization", "organization"


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
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["owner_kind", "owner_id"], name="keys_datakey_one_per_owner"
            ),
        ]

    def __str__(self) -> str:
        return f"data key {self.primary_key_id} of {self.owner_kind}"
