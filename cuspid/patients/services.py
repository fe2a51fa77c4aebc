"""Writes to patient records: policy, change and audit in one durable transaction."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, fields

from django.db import transaction

from cuspid.access.permissions import Perm
from cuspid.access.policy import require
from cuspid.audit.actions import AuditAction
from cuspid.audit.services import audit_emit
from cuspid.core import clock
from cuspid.core.errors import InvalidInput
from cuspid.patients.enums import PreferredLanguage, Sex
from cuspid.patients.models import Patient
from cuspid.tenancy.actor import Actor

PATIENT_DATA_TYPE = "patient"


@dataclass(frozen=True, slots=True)
class PatientDetails:
    """Everything a clinic records about a patient; ``""`` leaves an optional field empty."""

    given_name: str
    family_name: str
    date_of_birth: datetime.date
    sex: str = ""
    email: str = ""
    phone: str = ""
    address: str = ""
    health_card: str = ""
    chart_number: str = ""
    preferred_language: str = PreferredLanguage.EN
    notes: str = ""


def _checked(details: PatientDetails) -> dict[str, object]:
    """The model values of ``details``; raises InvalidInput naming the first bad field."""
    values: dict[str, object] = {}
    for field in fields(details):
        value = getattr(details, field.name)
        values[field.name] = value.strip() if isinstance(value, str) else value
    if not values["given_name"] or not values["family_name"]:
        raise InvalidInput("Enter the patient's given and family names.")
    dob = details.date_of_birth
    if dob > clock.now().date() or dob.year < 1900:
        raise InvalidInput("Enter a date of birth between 1900 and today.")
    if values["sex"] and values["sex"] not in Sex.values:
        raise InvalidInput("Choose one of the listed values for sex.")
    if values["preferred_language"] not in PreferredLanguage.values:
        raise InvalidInput("Choose English or French as the preferred language.")
    email = str(values["email"])
    if email and ("@" not in email or len(email) > 254):
        raise InvalidInput("Enter a valid email address.")
    for name in ("sex", "email", "phone", "address", "health_card", "chart_number", "notes"):
        values[name] = values[name] or None
    return values


def _audit(action: AuditAction.Patient, actor: Actor, patient: Patient) -> None:
    audit_emit(
        action=action,
        actor=actor,
        target_type=PATIENT_DATA_TYPE,
        target_id=patient.id,
        subject_patient=patient.id,
        data_type=PATIENT_DATA_TYPE,
        purpose="treatment",
    )


@transaction.atomic(durable=True)
def patient_create(*, actor: Actor, details: PatientDetails) -> Patient:
    """Register a patient in the actor's clinic, every identifying field sealed.

    Raises PermissionDenied without ``Perm.PatientEdit`` on the clinic, InvalidInput for bad
    details. Audits ``AuditAction.Patient.Created``.
    """
    require(actor, Perm.PatientEdit, actor.organization)
    if not actor.organization.is_clinic:
        raise InvalidInput("Only clinics register patients.")
    patient = Patient(organization=actor.organization, **_checked(details))
    patient.save()
    _audit(AuditAction.Patient.Created, actor, patient)
    return patient


@transaction.atomic(durable=True)
def patient_update(*, actor: Actor, patient: Patient, details: PatientDetails) -> Patient:
    """Replace a patient's details (found with ``access_patient``).

    Raises PermissionDenied without ``Perm.PatientEdit`` on this patient, InvalidInput for
    bad details. Audits ``AuditAction.Patient.Updated``.
    """
    require(actor, Perm.PatientEdit, patient)
    values = _checked(details)
    for name, value in values.items():
        setattr(patient, name, value)
    patient.save()
    _audit(AuditAction.Patient.Updated, actor, patient)
    return patient
