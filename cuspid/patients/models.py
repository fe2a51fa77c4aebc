"""Patients: every identifying field sealed with the patient's own data key.

Only ids, the owning clinic and blind indexes are stored in the clear. The pages, services
and API that create and show patients come with the patients-and-cases work (issue 7); this
model is the shape the key hierarchy protects.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models

from cuspid.core.models import BaseModel
from cuspid.keys.blind import email_index, health_card_index, name_dob_index
from cuspid.keys.fields import EncryptedDateField, EncryptedTextField, KeyOwned
from cuspid.keys.models import OwnerKind
from cuspid.tenancy.models import Organization


class Patient(KeyOwned, BaseModel):
    keys_owner_kind: ClassVar[OwnerKind] = OwnerKind.PATIENT
    keys_owner_field: ClassVar[str] = "id"

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="patients"
    )
    given_name = EncryptedTextField()
    family_name = EncryptedTextField()
    date_of_birth = EncryptedDateField()
    email = EncryptedTextField(blank=True, null=True)
    phone = EncryptedTextField(blank=True, null=True)
    health_card = EncryptedTextField(blank=True, null=True)
    notes = EncryptedTextField(blank=True, null=True)
    # Blind indexes (cuspid.keys.blind), kept in step with the sealed values by save().
    email_index = models.CharField(max_length=64, blank=True, db_index=True)
    health_card_index = models.CharField(max_length=64, blank=True, db_index=True)
    name_dob_index = models.CharField(max_length=64, db_index=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        # Never the name: str() ends up in logs, admin history and error pages.
        return f"patient {self.id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        org = self.organization_id
        self.name_dob_index = name_dob_index(
            org, self.given_name, self.family_name, self.date_of_birth
        )
        self.email_index = email_index(org, self.email) if self.email else ""
        self.health_card_index = (
            health_card_index(org, self.health_card) if self.health_card else ""
        )
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {
                *update_fields,
                "name_dob_index",
                "email_index",
                "health_card_index",
            }
        super().save(*args, **kwargs)
