"""Patients: every identifying field sealed with the patient's own data key.

Only ids, the owning clinic, the preferred language and blind indexes are stored in the
clear. Writes go through ``services.py``; reads through ``policies`` and ``selectors``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from cuspid.core.models import BaseModel
from cuspid.keys.blind import email_index, health_card_index, name_dob_index
from cuspid.keys.fields import EncryptedDateField, EncryptedTextField, KeyOwned
from cuspid.keys.models import OwnerKind
from cuspid.patients.enums import PreferredLanguage
from cuspid.tenancy.models import Organization


class Patient(KeyOwned, BaseModel):
    keys_owner_kind: ClassVar[OwnerKind] = OwnerKind.PATIENT
    keys_owner_field: ClassVar[str] = "id"

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="patients"
    )
    given_name = EncryptedTextField(_("given name"))
    family_name = EncryptedTextField(_("family name"))
    date_of_birth = EncryptedDateField(_("date of birth"))
    # A value of enums.Sex, sealed: checked by the service, not by a database constraint.
    sex = EncryptedTextField(_("sex"), blank=True, null=True)
    email = EncryptedTextField(_("email"), blank=True, null=True)
    phone = EncryptedTextField(_("phone"), blank=True, null=True)
    address = EncryptedTextField(_("address"), blank=True, null=True)
    health_card = EncryptedTextField(_("health card or insurance number"), blank=True, null=True)
    chart_number = EncryptedTextField(_("chart number"), blank=True, null=True)
    notes = EncryptedTextField(_("notes"), blank=True, null=True)
    preferred_language = models.CharField(
        _("preferred language"),
        max_length=8,
        choices=PreferredLanguage.choices,
        default=PreferredLanguage.EN,
    )
    # The patient's own sign-in, once invited and activated (the patient portal); until then
    # nobody signs in as this patient.
    patient_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="patient_records",
    )
    # Blind indexes (cuspid.keys.blind), kept in step with the sealed values by save().
    email_index = models.CharField(max_length=64, blank=True, db_index=True)
    health_card_index = models.CharField(max_length=64, blank=True, db_index=True)
    name_dob_index = models.CharField(max_length=64, db_index=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(preferred_language__in=PreferredLanguage.values),
                name="patients_language_valid",
            ),
        ]

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
