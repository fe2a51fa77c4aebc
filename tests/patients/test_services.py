"""Patient records: create and update (sealed, audited once), search by blind index, access."""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Callable

import pytest
from django.db import connection

from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.audit.models import AuditEvent
from cuspid.core import clock
from cuspid.core.errors import InvalidInput, NotFound, PermissionDenied
from cuspid.patients.models import Patient
from cuspid.patients.policies import access_patient, visible_patients
from cuspid.patients.selectors import PatientSearch, patient_list_for
from cuspid.patients.services import PatientDetails, patient_create, patient_update
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.factories.cases import PATIENT_EMAIL, PATIENT_HEALTH_CARD, actor_of, make_patient

MemberOf = Callable[[Organization, Role], Membership]

DOB = datetime.date(1980, 12, 10)
DETAILS = PatientDetails(
    given_name="Ada",
    family_name="Lovelace",
    date_of_birth=DOB,
    sex="female",
    email=PATIENT_EMAIL,
    phone="+1 416 555 0199",
    address="1 Example Street, Toronto",
    health_card=PATIENT_HEALTH_CARD,
    chart_number="CH-1001",
    preferred_language="en",
    notes="Allergic to latex.",
)
SEALED_COLUMNS = (
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
)


@pytest.fixture
def clinician(clinic: Organization, member_of: MemberOf) -> Membership:
    return member_of(clinic, Role.CLINICIAN)


def _patient_events(patient: Patient) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(subject_patient=str(patient.id)).order_by("sequence"))


def _raw_row(patient: Patient) -> dict[str, bytes | str | None]:
    """The stored columns of the patient, read with SQL past the model's fields."""
    pk = Patient._meta.pk
    assert pk is not None
    columns = ", ".join(SEALED_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM patients_patient WHERE id = %s",  # noqa: S608 -- fixed column names
            [pk.get_db_prep_value(patient.pk, connection)],
        )
        row = cursor.fetchone()
    assert row is not None
    return {
        name: bytes(value) if isinstance(value, bytes | memoryview) else value
        for name, value in zip(SEALED_COLUMNS, row, strict=True)
    }


def _search(membership: Membership, **fields: object) -> list[Patient]:
    search = PatientSearch(**fields)  # type: ignore[arg-type]  # test values
    return list(patient_list_for(actor=actor_of(membership), search=search))


# --- patient_create ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.STAFF])
def test_clinic_care_roles_register_a_patient(
    role: Role, clinic: Organization, member_of: MemberOf
) -> None:
    patient = patient_create(actor=actor_of(member_of(clinic, role)), details=DETAILS)
    stored = Patient.objects.get(pk=patient.pk)
    assert stored.organization_id == clinic.id
    assert (stored.given_name, stored.family_name, stored.date_of_birth) == (
        "Ada",
        "Lovelace",
        DOB,
    )
    assert stored.email == PATIENT_EMAIL
    assert stored.health_card == PATIENT_HEALTH_CARD
    assert stored.notes == "Allergic to latex."
    assert stored.preferred_language == "en"


def test_create_is_audited_exactly_once(clinician: Membership) -> None:
    actor = actor_of(clinician)
    before = AuditEvent.objects.count()
    patient = patient_create(actor=actor, details=DETAILS)
    assert AuditEvent.objects.count() == before + 1
    [event] = _patient_events(patient)
    assert event.action == AuditAction.Patient.Created
    assert event.subject_patient == str(patient.id)
    assert event.target_type == "patient"
    assert event.target_id == str(patient.id)
    assert event.outcome == Outcome.ALLOWED
    assert event.actor_user_id == clinician.user.pk
    assert event.actor_organization_id == clinician.organization_id


def test_every_identifying_field_is_sealed_in_the_database(clinician: Membership) -> None:
    patient = make_patient(
        clinician,
        given_name="Zerubbabel",
        family_name="Quixotica",
        email="zq-canary@patient.example",
        phone="+1 416 555 7788",
        address="77 Canary Row",
        health_card="CANARY-9931",
        chart_number="CHART-CANARY",
        notes="canary notes",
        sex="intersex",
    )
    row = _raw_row(patient)
    plaintexts = {
        "given_name": b"Zerubbabel",
        "family_name": b"Quixotica",
        "date_of_birth": b"1980",
        "email": b"zq-canary",
        "phone": b"7788",
        "address": b"Canary",
        "health_card": b"9931",
        "chart_number": b"CHART-CANARY",
        "notes": b"canary",
        "sex": b"intersex",
    }
    for column, plaintext in plaintexts.items():
        stored = row[column]
        assert isinstance(stored, bytes), column
        assert plaintext.lower() not in stored.lower(), column
    # The blind indexes are not the values either.
    indexes = (
        Patient.objects.filter(pk=patient.pk)
        .values_list("email_index", "health_card_index", "name_dob_index")
        .get()
    )
    for index in indexes:
        assert len(index) == 64
        assert "canary" not in index.lower()


def test_empty_optional_fields_are_stored_as_null(clinician: Membership) -> None:
    details = PatientDetails(given_name=" Ada ", family_name="Lovelace ", date_of_birth=DOB)
    patient = patient_create(actor=actor_of(clinician), details=details)
    row = _raw_row(patient)
    for column in ("sex", "email", "phone", "address", "health_card", "chart_number", "notes"):
        assert row[column] is None, column
    stored = Patient.objects.get(pk=patient.pk)
    assert (stored.given_name, stored.family_name) == ("Ada", "Lovelace")
    assert (stored.email_index, stored.health_card_index) == ("", "")


BAD_DETAILS: dict[str, dict[str, object]] = {
    "no given name": {"given_name": ""},
    "blank family name": {"family_name": "   "},
    "born tomorrow": {
        "date_of_birth": datetime.datetime.now(tz=datetime.UTC).date() + datetime.timedelta(days=2)
    },
    "born before 1900": {"date_of_birth": datetime.date(1899, 12, 31)},
    "unknown sex": {"sex": "unknown"},
    "unknown language": {"preferred_language": "de"},
    "blank language": {"preferred_language": ""},
    "email without at": {"email": "ada.example.org"},
    "email too long": {"email": "a" * 250 + "@x.ca"},
}


@pytest.mark.parametrize("change", BAD_DETAILS.values(), ids=BAD_DETAILS.keys())
def test_bad_details_are_refused_and_nothing_is_stored(
    change: dict[str, object], clinician: Membership
) -> None:
    details = dataclasses.replace(DETAILS, **change)  # type: ignore[arg-type]  # test values
    events = AuditEvent.objects.count()
    with pytest.raises(InvalidInput):
        patient_create(actor=actor_of(clinician), details=details)
    assert not Patient.objects.exists()
    assert AuditEvent.objects.count() == events


def test_born_today_and_in_1900_are_accepted(clinician: Membership) -> None:
    actor = actor_of(clinician)
    patient_create(
        actor=actor, details=dataclasses.replace(DETAILS, date_of_birth=clock.now().date())
    )
    patient_create(
        actor=actor, details=dataclasses.replace(DETAILS, date_of_birth=datetime.date(1900, 1, 1))
    )
    assert Patient.objects.count() == 2


@pytest.mark.parametrize("role", [Role.ORG_ADMIN, Role.PATIENT])
def test_other_clinic_roles_cannot_register_patients(
    role: Role, clinic: Organization, member_of: MemberOf
) -> None:
    with pytest.raises(PermissionDenied):
        patient_create(actor=actor_of(member_of(clinic, role)), details=DETAILS)
    assert not Patient.objects.exists()


@pytest.mark.parametrize("role", [Role.DESIGNER, Role.LAB_STAFF, Role.ORG_ADMIN])
def test_lab_members_cannot_register_patients(
    role: Role, lab: Organization, member_of: MemberOf
) -> None:
    events = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied):
        patient_create(actor=actor_of(member_of(lab, role)), details=DETAILS)
    assert not Patient.objects.exists()
    assert AuditEvent.objects.count() == events


def test_a_lab_never_registers_patients_even_through_a_misassigned_role(
    lab: Organization, member_of: MemberOf
) -> None:
    # Membership rules keep clinic roles out of labs; the service does not rely on them.
    misassigned = member_of(lab, Role.CLINICIAN)
    with pytest.raises(InvalidInput):
        patient_create(actor=actor_of(misassigned), details=DETAILS)
    assert not Patient.objects.exists()


# --- patient_update ----------------------------------------------------------------------------


def test_update_replaces_the_details_and_is_audited_once(clinician: Membership) -> None:
    patient = make_patient(clinician)
    # An update needs no recent sign-in.
    actor = Actor.of(clinician, authenticated_at=None)
    before = AuditEvent.objects.count()
    changed = dataclasses.replace(
        DETAILS, family_name="King", email="ada.king@patient.example", notes="", health_card=""
    )
    patient_update(actor=actor, patient=patient, details=changed)
    assert AuditEvent.objects.count() == before + 1
    created, updated = _patient_events(patient)
    assert (created.action, updated.action) == (
        AuditAction.Patient.Created,
        AuditAction.Patient.Updated,
    )
    assert updated.subject_patient == str(patient.id)
    assert updated.target_id == str(patient.id)
    stored = Patient.objects.get(pk=patient.pk)
    assert stored.family_name == "King"
    assert stored.email == "ada.king@patient.example"
    assert stored.notes is None
    assert stored.health_card is None
    assert stored.health_card_index == ""
    # The blind indexes follow the new values.
    assert _search(clinician, email="ada.king@patient.example") == [stored]
    assert _search(clinician, email=PATIENT_EMAIL) == []
    assert _search(clinician, given_name="Ada", family_name="King", date_of_birth=DOB) == [stored]
    assert _search(clinician, given_name="Ada", family_name="Lovelace", date_of_birth=DOB) == []


def test_bad_update_changes_nothing(clinician: Membership) -> None:
    patient = make_patient(clinician)
    events = AuditEvent.objects.count()
    with pytest.raises(InvalidInput):
        patient_update(
            actor=actor_of(clinician),
            patient=patient,
            details=dataclasses.replace(DETAILS, family_name="King", email="not-an-email"),
        )
    assert Patient.objects.get(pk=patient.pk).family_name == "Lovelace"
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("role", [Role.DESIGNER, Role.LAB_STAFF])
def test_lab_members_cannot_update_patients(
    role: Role, clinician: Membership, lab: Organization, member_of: MemberOf
) -> None:
    patient = make_patient(clinician)
    with pytest.raises(PermissionDenied):
        patient_update(
            actor=actor_of(member_of(lab, role)),
            patient=patient,
            details=dataclasses.replace(DETAILS, family_name="King"),
        )
    assert Patient.objects.get(pk=patient.pk).family_name == "Lovelace"


def test_another_clinic_cannot_update_a_patient(
    clinician: Membership, other_clinic: Organization, member_of: MemberOf
) -> None:
    patient = make_patient(clinician)
    stranger = member_of(other_clinic, Role.CLINICIAN)
    with pytest.raises(PermissionDenied):
        patient_update(
            actor=actor_of(stranger),
            patient=patient,
            details=dataclasses.replace(DETAILS, family_name="King"),
        )
    assert Patient.objects.get(pk=patient.pk).family_name == "Lovelace"
    assert [e.action for e in _patient_events(patient)] == [AuditAction.Patient.Created]


# --- search ------------------------------------------------------------------------------------


@pytest.fixture
def two_patients(clinician: Membership) -> tuple[Patient, Patient]:
    ada = make_patient(clinician)
    grace = make_patient(
        clinician,
        given_name="Grace",
        family_name="Hopper",
        date_of_birth=datetime.date(1906, 12, 9),
        email="grace@patient.example",
        health_card="9999-000-111-ZZ",
    )
    return ada, grace


@pytest.mark.parametrize(
    "search",
    [
        {"health_card": PATIENT_HEALTH_CARD},
        {"health_card": "1234 567 890 ab"},
        {"health_card": " 1234567890AB "},
        {"email": PATIENT_EMAIL},
        {"email": "  Ada.Lovelace@PATIENT.example "},
        {"given_name": "Ada", "family_name": "Lovelace", "date_of_birth": DOB},
        {"given_name": " ada ", "family_name": "LOVELACE", "date_of_birth": DOB},
        {"email": PATIENT_EMAIL, "health_card": PATIENT_HEALTH_CARD},
    ],
)
def test_search_finds_the_patient_by_exact_normalised_values(
    search: dict[str, object], two_patients: tuple[Patient, Patient], clinician: Membership
) -> None:
    ada, _grace = two_patients
    assert _search(clinician, **search) == [ada]


@pytest.mark.parametrize(
    "search",
    [
        {"health_card": "1234-567-890"},
        {"email": "ada@patient.example"},
        {
            "given_name": "Ada",
            "family_name": "Lovelace",
            "date_of_birth": datetime.date(1980, 12, 11),
        },
        {"given_name": "Ad", "family_name": "Lovelace", "date_of_birth": DOB},
        # Each field must match: the right card with the wrong email finds nobody.
        {"health_card": PATIENT_HEALTH_CARD, "email": "grace@patient.example"},
    ],
)
def test_search_is_exact(
    search: dict[str, object], two_patients: tuple[Patient, Patient], clinician: Membership
) -> None:
    assert _search(clinician, **search) == []


def test_an_empty_or_partial_search_lists_every_visible_patient(
    two_patients: tuple[Patient, Patient], clinician: Membership
) -> None:
    ada, grace = two_patients
    newest_first = [grace, ada]
    assert list(patient_list_for(actor=actor_of(clinician))) == newest_first
    assert _search(clinician) == newest_first
    assert PatientSearch(health_card="  ").is_empty
    assert _search(clinician, health_card="  ") == newest_first
    # A name without the date of birth is not a usable search.
    assert _search(clinician, given_name="Ada", family_name="Lovelace") == newest_first


def test_another_clinics_patient_is_never_found(
    two_patients: tuple[Patient, Patient],
    clinician: Membership,
    other_clinic: Organization,
    member_of: MemberOf,
) -> None:
    stranger = member_of(other_clinic, Role.CLINICIAN)
    twin = make_patient(stranger)  # same name, birth date, email and card, other clinic
    for search in (
        {"health_card": PATIENT_HEALTH_CARD},
        {"email": PATIENT_EMAIL},
        {"given_name": "Ada", "family_name": "Lovelace", "date_of_birth": DOB},
    ):
        assert _search(stranger, **search) == [twin]
        assert _search(clinician, **search) == [two_patients[0]]
    assert list(patient_list_for(actor=actor_of(stranger))) == [twin]
    # Blind indexes are keyed per clinic: the same card gives unrelated indexes.
    assert twin.health_card_index != two_patients[0].health_card_index


def test_a_lab_sees_no_patients(
    two_patients: tuple[Patient, Patient], lab: Organization, member_of: MemberOf
) -> None:
    designer = member_of(lab, Role.DESIGNER)
    assert list(patient_list_for(actor=actor_of(designer))) == []
    with pytest.raises(NotFound):
        access_patient(actor_of(designer), two_patients[0].id)


# --- access ------------------------------------------------------------------------------------


def test_access_patient_finds_a_patient_of_the_clinic(
    two_patients: tuple[Patient, Patient], clinic: Organization, member_of: MemberOf
) -> None:
    ada, _grace = two_patients
    staff = member_of(clinic, Role.STAFF)
    assert access_patient(actor_of(staff), ada.id) == ada


def test_access_patient_answers_not_found_for_foreign_and_absent_alike(
    two_patients: tuple[Patient, Patient], other_clinic: Organization, member_of: MemberOf
) -> None:
    stranger = actor_of(member_of(other_clinic, Role.CLINICIAN))
    with pytest.raises(NotFound) as foreign:
        access_patient(stranger, two_patients[0].id)
    with pytest.raises(NotFound) as absent:
        access_patient(stranger, uuid.uuid4())
    assert foreign.value.body() == absent.value.body()


def test_a_patient_member_sees_only_their_own_record(
    two_patients: tuple[Patient, Patient], clinic: Organization, member_of: MemberOf
) -> None:
    ada, grace = two_patients
    portal = member_of(clinic, Role.PATIENT)
    Patient.objects.filter(pk=ada.pk).update(patient_user=portal.user)
    actor = actor_of(portal)
    assert list(visible_patients(actor)) == [Patient.objects.get(pk=ada.pk)]
    assert access_patient(actor, ada.id).pk == ada.pk
    with pytest.raises(NotFound):
        access_patient(actor, grace.id)


def test_a_patient_prints_without_their_name(clinician: Membership) -> None:
    patient = make_patient(clinician)
    assert str(patient) == f"patient {patient.id}"


def test_saving_some_fields_keeps_the_blind_indexes_in_step(clinician: Membership) -> None:
    patient = make_patient(clinician)
    patient.email = "new.address@patient.example"
    patient.save(update_fields=["email"])
    assert _search(clinician, email="new.address@patient.example") == [patient]
    assert _search(clinician, email=PATIENT_EMAIL) == []
