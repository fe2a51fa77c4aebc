"""Encrypted model fields and blind indexes, on the patient model they protect."""

from __future__ import annotations

import datetime
import json
import uuid

import pytest
import tink
from django import forms
from django.core import serializers
from django.core.exceptions import FieldError
from django.db import connection, models
from django.test.utils import isolate_apps

from cuspid.core.actors import SystemActor
from cuspid.keys.blind import (
    email_index,
    health_card_index,
    name_dob_index,
    normalize_health_card,
    normalize_name,
)
from cuspid.keys.crypto import sealed_key_id
from cuspid.keys.errors import KeyDestroyed
from cuspid.keys.fields import (
    EncryptedDateField,
    EncryptedField,
    EncryptedJSONField,
    EncryptedTextField,
    KeyOwned,
    Sealed,
    encrypted_fields,
)
from cuspid.keys.models import DataKey, OwnerKind
from cuspid.keys.services import owner_keys_shred
from cuspid.patients.models import Patient
from cuspid.tenancy.models import Organization
from tests.factories import make_organization

pytestmark = pytest.mark.django_db

DOB = datetime.date(1984, 2, 29)


def make_patient(clinic: Organization, **fields: object) -> Patient:
    values: dict[str, object] = {
        "given_name": "Marie-Ève",
        "family_name": "O\u2019Neil",
        "date_of_birth": DOB,
        "health_card": "1234-567-890-AB",
        "email": "Marie@Example.org",
        "notes": "allergic to latex",
    }
    values.update(fields)
    return Patient.objects.create(organization=clinic, **values)


def raw_column(patient: Patient, column: str) -> bytes:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM patients_patient WHERE id = %s", [patient.pk.hex])  # noqa: S608 -- test-chosen column
        row = cursor.fetchone()
    if row is None:  # PostgreSQL stores UUIDs natively, SQLite as hex
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {column} FROM patients_patient WHERE id = %s", [patient.pk])  # noqa: S608 -- test-chosen column
            row = cursor.fetchone()
    return bytes(row[0])


def test_the_database_holds_ciphertext_and_the_model_plaintext(clinic: Organization) -> None:
    patient = make_patient(clinic, notes="canary-notes-7731")
    stored = raw_column(patient, "notes")
    assert b"canary-notes-7731" not in stored
    assert stored[0] == 1  # Tink's prefix: the data key's id follows
    owner_key = DataKey.objects.get(owner_kind=OwnerKind.PATIENT, owner_id=patient.id)
    assert sealed_key_id(stored) == owner_key.primary_key_id

    loaded = Patient.objects.get(pk=patient.pk)
    assert isinstance(loaded.__dict__["notes"], Sealed)
    assert repr(loaded.__dict__["notes"]) == "<sealed>"
    assert loaded.notes == "canary-notes-7731"
    assert loaded.date_of_birth == DOB
    assert loaded.given_name == "Marie-Ève"


def test_an_unread_field_is_saved_back_unchanged(clinic: Organization) -> None:
    patient = make_patient(clinic, phone="555 0100")
    loaded = Patient.objects.get(pk=patient.pk)
    before = loaded.__dict__["phone"].ciphertext
    loaded.notes = "updated"
    loaded.save(update_fields=["notes", "phone"])
    assert Patient.objects.get(pk=patient.pk).__dict__["phone"].ciphertext == before
    assert Patient.objects.get(pk=patient.pk).notes == "updated"


def test_a_ciphertext_moved_to_another_row_does_not_open(clinic: Organization) -> None:
    first = make_patient(clinic, notes="first")
    second = make_patient(clinic, notes="second")
    # The same owner for both rows, so only the row id in the associated data differs.
    second_as_first_owner = Patient.objects.get(pk=second.pk)
    field = Patient._meta.get_field("notes")
    assert isinstance(field, EncryptedField)
    with pytest.raises(tink.TinkError):
        field.open(second_as_first_owner, raw_column(first, "notes"))


def test_a_ciphertext_moved_to_another_field_does_not_open(clinic: Organization) -> None:
    patient = make_patient(clinic, notes="the notes")
    field = Patient._meta.get_field("given_name")
    assert isinstance(field, EncryptedField)
    with pytest.raises(tink.TinkError):
        field.open(patient, raw_column(patient, "notes"))
    # The same bytes in their own field open.
    notes = Patient._meta.get_field("notes")
    assert isinstance(notes, EncryptedField)
    assert notes.open(patient, raw_column(patient, "notes")) == "the notes"


def test_queries_never_compare_plaintext(clinic: Organization) -> None:
    make_patient(clinic, phone=None)
    assert Patient.objects.filter(phone__isnull=True).count() == 1
    with pytest.raises(FieldError):
        Patient.objects.filter(notes="allergic to latex").count()
    with pytest.raises(FieldError):
        Patient.objects.filter(notes__icontains="latex").count()
    with pytest.raises(TypeError, match="encrypted"):
        Patient.objects.update(notes="bulk")


def test_deferred_fields_load_and_open_on_first_read(clinic: Organization) -> None:
    patient = make_patient(clinic, notes="deferred")
    loaded = Patient.objects.defer("notes").get(pk=patient.pk)
    assert "notes" not in loaded.__dict__
    assert loaded.notes == "deferred"


def test_serialisation_writes_ciphertext(clinic: Organization) -> None:
    patient = make_patient(clinic, notes="serialised-canary")
    dumped = serializers.serialize("json", [Patient.objects.get(pk=patient.pk), patient])
    assert "serialised-canary" not in dumped
    assert "Marie" not in dumped
    fields = json.loads(dumped)[0]["fields"]
    assert fields["notes"]
    assert fields["phone"] is None


def test_after_shredding_every_field_reads_as_deleted(clinic: Organization) -> None:
    patient = make_patient(clinic)
    owner_keys_shred(actor=SystemActor(reason="test"), kind=OwnerKind.PATIENT, owner_id=patient.id)
    loaded = Patient.objects.get(pk=patient.pk)
    with pytest.raises(KeyDestroyed):
        _ = loaded.notes
    # Rows can still be listed and counted without opening anything.
    assert Patient.objects.filter(pk=patient.pk).exists()


def test_a_date_field_takes_only_dates() -> None:
    with pytest.raises(TypeError, match="takes a date"):
        EncryptedDateField().encode("1984-02-29")


def test_form_fields_edit_plaintext() -> None:
    notes = Patient._meta.get_field("notes").formfield()
    assert isinstance(notes, forms.CharField)
    assert not notes.required
    date_of_birth = Patient._meta.get_field("date_of_birth").formfield()
    assert isinstance(date_of_birth, forms.DateField)
    assert date_of_birth.required
    assert isinstance(EncryptedJSONField().formfield(), forms.JSONField)
    assert EncryptedTextField().to_python("as typed") == "as typed"


def test_the_base_field_seals_bytes_as_they_are() -> None:
    assert EncryptedField().encode(bytearray(b"\x00raw")) == b"\x00raw"
    assert EncryptedField().decode(b"\x00raw") == b"\x00raw"
    assert isinstance(Patient.__dict__["notes"].field, EncryptedTextField)
    assert Patient.notes is Patient.__dict__["notes"]


def test_encrypted_fields_lists_them_in_order() -> None:
    names = [field.name for field in encrypted_fields(Patient)]
    assert names == [
        "given_name",
        "family_name",
        "date_of_birth",
        "sex",
        "email",
        "phone",
        "address",
        "health_card",
        "chart_number",
        "notes",
    ]


def test_a_model_with_encrypted_fields_must_say_whose_key_seals_it() -> None:
    with pytest.raises(TypeError, match="KeyOwned"):

        class Unowned(models.Model):  # noqa: DJ008 -- never created
            secret = EncryptedTextField()

            class Meta:
                app_label = "patients"


def test_the_owner_id_and_row_id_must_exist_before_sealing() -> None:
    field = Patient._meta.get_field("notes")
    assert isinstance(field, EncryptedField)
    with pytest.raises(ValueError, match="row id"):
        field.associated_data(Patient(pk=None))


@isolate_apps("cuspid.patients")
def test_json_round_trips_through_the_organisation_key(clinic: Organization) -> None:
    class OrgSettings(KeyOwned, models.Model):  # noqa: DJ008 -- a test model
        """Organisation-owned encrypted JSON: the organisation DEK path."""

        keys_owner_kind = OwnerKind.ORGANIZATION
        keys_owner_field = "organization_id"

        id = models.UUIDField(primary_key=True)
        organization = models.ForeignKey(Organization, on_delete=models.CASCADE, null=True)
        settings = EncryptedJSONField(null=True)

        class Meta:
            app_label = "patients"

    row = OrgSettings(id=uuid.uuid4(), organization=clinic)
    field = OrgSettings._meta.get_field("settings")
    assert isinstance(field, EncryptedField)
    row.settings = {"b": [1, 2], "a": "é"}
    ciphertext = field.sealed(row)
    assert ciphertext is not None
    assert field.open(row, ciphertext) == {"a": "é", "b": [1, 2]}
    assert DataKey.objects.filter(owner_kind=OwnerKind.ORGANIZATION, owner_id=clinic.id).exists()
    assert EncryptedDateField().decode(b"2001-01-31") == datetime.date(2001, 1, 31)
    with pytest.raises(ValueError, match="organization_id"):
        OrgSettings(organization_id=None).keys_owner()


# -- blind indexes -------------------------------------------------------------------------


def test_blind_indexes_find_exact_matches_after_normalisation(clinic: Organization) -> None:
    patient = make_patient(clinic)
    assert (
        Patient.objects.get(health_card_index=health_card_index(clinic.id, "1234 567 890 ab"))
        == patient
    )
    assert Patient.objects.get(email_index=email_index(clinic.id, " marie@example.ORG ")) == patient
    assert (
        Patient.objects.get(name_dob_index=name_dob_index(clinic.id, "MARIE EVE", "o'neil", DOB))
        == patient
    )
    assert not Patient.objects.filter(
        name_dob_index=name_dob_index(
            clinic.id, "Marie-Ève", "O\u2019Neil", datetime.date(1984, 3, 1)
        )
    ).exists()


def test_blind_indexes_differ_between_clinics_and_between_purposes(clinic: Organization) -> None:
    other = make_organization(name="Elsewhere")
    assert health_card_index(clinic.id, "ABC123") != health_card_index(other.id, "ABC123")
    assert health_card_index(clinic.id, "abc123") != email_index(clinic.id, "abc123")
    index = health_card_index(clinic.id, "ABC123")
    assert len(index) == 64
    assert "ABC123" not in index


def test_blind_indexes_follow_edits(clinic: Organization) -> None:
    patient = make_patient(clinic)
    patient.health_card = "9999"
    patient.email = ""
    patient.save(update_fields=["health_card", "email"])
    stored = Patient.objects.get(pk=patient.pk)
    assert stored.health_card_index == health_card_index(clinic.id, "9999")
    assert stored.email_index == ""


def test_normalisation() -> None:
    assert normalize_health_card("ab-12 34") == "AB1234"
    assert normalize_name("  Zoë  D\u2019Arcy-Smith ") == normalize_name("zoe darcy smith")
