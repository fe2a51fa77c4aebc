"""API shapes for patient records: one input per write, the full record out, and the short
reference a case carries.

Every identifying field is sealed in the database; these schemas see plaintext only because
the operation found the record through ``access_patient`` and opened its data key.
"""

from __future__ import annotations

import datetime
from uuid import UUID

from ninja import Field, Schema

from cuspid.patients.enums import PreferredLanguage, Sex


class ErrorOut(Schema):
    """What every refused or failed operation answers."""

    detail: object = Field(
        ..., description="Why, for a person to read (a list of problems for a 422 on the shape)."
    )
    code: str = Field(
        ..., description="Stable machine code: not_found, permission_denied, invalid, ..."
    )


class PatientListQuery(Schema):
    """Exact search through blind indexes; no partial matches. Empty fields are ignored."""

    health_card: str = Field(
        "", max_length=64, description="A health-card or insurance number, matched exactly."
    )
    email: str = Field("", max_length=254, description="An email address, matched exactly.")
    given_name: str = Field(
        "", max_length=100, description="Given name; needs family_name and date_of_birth too."
    )
    family_name: str = Field(
        "", max_length=100, description="Family name; needs given_name and date_of_birth too."
    )
    date_of_birth: datetime.date | None = Field(
        None, description="Date of birth; needs given_name and family_name too."
    )


class PatientCreateIn(Schema):
    """A new patient of the caller's clinic."""

    given_name: str = Field(..., min_length=1, max_length=100, description="Given name.")
    family_name: str = Field(..., min_length=1, max_length=100, description="Family name.")
    date_of_birth: datetime.date = Field(
        ..., description="Date of birth (ISO 8601), between 1900 and today."
    )
    sex: Sex | None = Field(None, description="Sex as recorded on the chart.")
    email: str = Field("", max_length=254, description="Email address for the patient.")
    phone: str = Field("", max_length=40, description="Phone number, as written.")
    address: str = Field("", max_length=500, description="Postal address, as written.")
    health_card: str = Field(
        "", max_length=64, description="Health-card or insurance number (searchable exactly)."
    )
    chart_number: str = Field("", max_length=64, description="The clinic's own chart number.")
    preferred_language: PreferredLanguage = Field(
        PreferredLanguage.EN, description="The language the clinic writes to the patient in."
    )
    notes: str = Field("", max_length=4000, description="Free notes for the clinic's staff.")


class PatientUpdateIn(PatientCreateIn):
    """Every detail of a patient, replacing what was recorded (a field left out is emptied)."""


class PatientOut(Schema):
    """A patient record as the clinic holds it (contact details and health card included)."""

    id: UUID = Field(..., description="The patient's id.")
    given_name: str = Field(..., description="Given name.")
    family_name: str = Field(..., description="Family name.")
    date_of_birth: datetime.date = Field(..., description="Date of birth.")
    sex: str | None = Field(..., description="Sex as recorded, or null.")
    email: str | None = Field(..., description="Email address, or null.")
    phone: str | None = Field(..., description="Phone number, or null.")
    address: str | None = Field(..., description="Postal address, or null.")
    health_card: str | None = Field(..., description="Health-card or insurance number, or null.")
    chart_number: str | None = Field(..., description="The clinic's chart number, or null.")
    preferred_language: str = Field(..., description="Preferred language (en or fr).")
    notes: str | None = Field(..., description="Notes for the clinic's staff, or null.")
    created_at: datetime.datetime = Field(..., description="When the record was created.")
    updated_at: datetime.datetime = Field(..., description="When the record last changed.")


class PatientRefOut(Schema):
    """Who a case is for, as the owning clinic sees it (never sent to a lab)."""

    id: UUID = Field(..., description="The patient's id.")
    given_name: str = Field(..., description="Given name.")
    family_name: str = Field(..., description="Family name.")
    date_of_birth: datetime.date = Field(..., description="Date of birth.")
