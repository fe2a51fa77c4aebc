"""/api/v1 patient records: create, read, replace, exact search, tenancy, tokens, query counts."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pytest_django import DjangoAssertNumQueries

from cuspid.accounts.enums import TokenScope
from cuspid.accounts.models import User
from cuspid.accounts.services.tokens import api_token_create
from cuspid.audit.actions import AuditAction
from cuspid.audit.models import AuditEvent
from cuspid.keys.crypto import dek_cache
from cuspid.patients.models import Patient
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.factories import audited_read_queries
from tests.factories.cases import PATIENT_EMAIL, PATIENT_HEALTH_CARD, actor_of, make_patient

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]

NOT_FOUND = {"detail": "Not found.", "code": "not_found"}

NEW_PATIENT: dict[str, Any] = {
    "given_name": "Grace",
    "family_name": "Hopper",
    "date_of_birth": "1976-12-09",
    "sex": "female",
    "email": "grace.hopper@patient.example",
    "phone": "+1 514 555 0142",
    "address": "2 Harbour Road, Halifax",
    "health_card": "9876-543-210-ZX",
    "chart_number": "CH-2002",
    "preferred_language": "fr",
    "notes": "Prefers morning appointments.",
}


@pytest.fixture
def clinician(clinic: Organization, member_of: MemberOf) -> Membership:
    return member_of(clinic, Role.CLINICIAN)


@pytest.fixture
def client(clinician: Membership, signed_in: SignedIn) -> Client:
    return signed_in(clinician.user)


def _post(
    client: Client, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Any:
    return client.post(path, body, content_type="application/json", headers=headers)


def _put(client: Client, path: str, body: dict[str, Any]) -> Any:
    return client.put(path, body, content_type="application/json")


# --- create, get, update ---------------------------------------------------------------------


def test_a_clinician_registers_a_patient_and_reads_it_back(client: Client) -> None:
    created = _post(client, "/api/v1/patients", NEW_PATIENT)
    assert created.status_code == 201
    body = created.json()
    patient = Patient.objects.get()
    assert body["id"] == str(patient.id)
    assert {key: body[key] for key in NEW_PATIENT} == NEW_PATIENT
    fetched = client.get(f"/api/v1/patients/{patient.id}")
    assert fetched.status_code == 200
    assert fetched.json() == body
    # Stored sealed: the plaintext is nowhere in the row as the database holds it.
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM patients_patient")
        (row,) = cursor.fetchall()
    assert not any("Hopper" in str(value) for value in row)


def test_creating_and_reading_are_audited_with_the_patient(
    client: Client, clinician: Membership
) -> None:
    patient_id = _post(client, "/api/v1/patients", NEW_PATIENT).json()["id"]
    client.get(f"/api/v1/patients/{patient_id}")
    (created,) = AuditEvent.objects.filter(action=AuditAction.Patient.Created)
    (read,) = AuditEvent.objects.filter(action=AuditAction.Record.Read)
    assert created.subject_patient == read.subject_patient == patient_id
    assert read.actor_user_id == clinician.user_id


def test_optional_fields_may_be_left_out(client: Client) -> None:
    minimal = {"given_name": "Alan", "family_name": "Turing", "date_of_birth": "1990-06-23"}
    response = _post(client, "/api/v1/patients", minimal)
    assert response.status_code == 201
    body = response.json()
    assert body["email"] is None
    assert body["health_card"] is None
    assert body["sex"] is None
    assert body["preferred_language"] == "en"


def test_update_replaces_every_detail(client: Client, clinician: Membership) -> None:
    patient = make_patient(clinician)
    changed = {**NEW_PATIENT, "phone": "", "given_name": "Augusta"}
    response = _put(client, f"/api/v1/patients/{patient.id}", changed)
    assert response.status_code == 200
    body = response.json()
    assert body["given_name"] == "Augusta"
    assert body["phone"] is None
    assert body["health_card"] == NEW_PATIENT["health_card"]
    patient.refresh_from_db()
    assert patient.given_name == "Augusta"
    assert AuditEvent.objects.filter(
        action=AuditAction.Patient.Updated, subject_patient=str(patient.id)
    ).exists()


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"date_of_birth": "2999-01-01"}, "date of birth"),
        ({"date_of_birth": "1850-01-01"}, "date of birth"),
        ({"email": "not-an-address"}, "email"),
    ],
)
def test_bad_details_are_refused_with_a_reason(
    client: Client, change: dict[str, str], where: str
) -> None:
    response = _post(client, "/api/v1/patients", {**NEW_PATIENT, **change})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid"
    assert where in response.json()["detail"]
    assert not Patient.objects.exists()


@pytest.mark.parametrize(
    "change",
    [
        {"sex": "unknown"},
        {"date_of_birth": "10/12/1980"},
        {"given_name": ""},
        {"preferred_language": "de"},
    ],
)
def test_a_badly_shaped_body_is_422(client: Client, change: dict[str, str]) -> None:
    response = _post(client, "/api/v1/patients", {**NEW_PATIENT, **change})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid"
    assert not Patient.objects.exists()


# --- list and search -------------------------------------------------------------------------


def test_list_is_paged_newest_first(client: Client, clinician: Membership) -> None:
    first = make_patient(clinician, given_name="First")
    second = make_patient(clinician, given_name="Second", health_card="2222")
    response = client.get("/api/v1/patients")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [p["id"] for p in body["items"]] == [str(second.id), str(first.id)]
    page_two = client.get("/api/v1/patients?page=2&page_size=1").json()
    assert page_two["count"] == 2
    assert [p["id"] for p in page_two["items"]] == [str(first.id)]


def test_search_by_health_card_is_exact(client: Client, clinician: Membership) -> None:
    wanted = make_patient(clinician)
    make_patient(clinician, given_name="Other", health_card="5555-000-111-CD")
    found = client.get("/api/v1/patients", {"health_card": PATIENT_HEALTH_CARD}).json()
    assert [p["id"] for p in found["items"]] == [str(wanted.id)]
    # No partial match: the blind index compares whole values only.
    partial = client.get("/api/v1/patients", {"health_card": PATIENT_HEALTH_CARD[:-2]}).json()
    assert partial == {"items": [], "count": 0}


def test_search_by_email_and_by_name_with_birth_date(client: Client, clinician: Membership) -> None:
    wanted = make_patient(clinician)
    make_patient(clinician, given_name="Other", email="other@patient.example", health_card="")
    by_email = client.get("/api/v1/patients", {"email": PATIENT_EMAIL}).json()
    assert [p["id"] for p in by_email["items"]] == [str(wanted.id)]
    by_name = client.get(
        "/api/v1/patients",
        {"given_name": "Ada", "family_name": "Lovelace", "date_of_birth": "1980-12-10"},
    ).json()
    assert [p["id"] for p in by_name["items"]] == [str(wanted.id)]
    wrong_date = client.get(
        "/api/v1/patients",
        {"given_name": "Ada", "family_name": "Lovelace", "date_of_birth": "1980-12-11"},
    ).json()
    assert wrong_date["count"] == 0


def test_another_clinics_patients_are_not_listed_nor_searchable(
    client: Client, other_clinic: Organization, member_of: MemberOf
) -> None:
    make_patient(member_of(other_clinic, Role.CLINICIAN))
    assert client.get("/api/v1/patients").json() == {"items": [], "count": 0}
    searched = client.get("/api/v1/patients", {"health_card": PATIENT_HEALTH_CARD}).json()
    assert searched == {"items": [], "count": 0}


# --- tenancy and roles -----------------------------------------------------------------------


def test_another_clinics_patient_answers_like_a_random_id(
    client: Client, other_clinic: Organization, member_of: MemberOf
) -> None:
    foreign = make_patient(member_of(other_clinic, Role.CLINICIAN))
    for path in (f"/api/v1/patients/{foreign.id}", f"/api/v1/patients/{uuid.uuid4()}"):
        assert client.get(path).json() == NOT_FOUND
        response = _put(client, path, NEW_PATIENT)
        assert response.status_code == 404
        assert response.json() == NOT_FOUND
    foreign.refresh_from_db()
    assert foreign.given_name == "Ada"


@pytest.mark.parametrize("role", [Role.DESIGNER, Role.LAB_STAFF])
def test_lab_roles_never_reach_patients(
    role: Role, lab: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    client = signed_in(member_of(lab, role).user)
    assert client.get("/api/v1/patients").status_code == 403
    assert _post(client, "/api/v1/patients", NEW_PATIENT).status_code == 403


def test_an_org_admin_sees_no_patient(
    clinic: Organization, clinician: Membership, member_of: MemberOf, signed_in: SignedIn
) -> None:
    patient = make_patient(clinician)
    client = signed_in(member_of(clinic, Role.ORG_ADMIN).user)
    assert client.get("/api/v1/patients").status_code == 403
    assert client.get(f"/api/v1/patients/{patient.id}").status_code == 403


def test_signed_out_is_401(clinician: Membership) -> None:
    patient = make_patient(clinician)
    assert Client().get(f"/api/v1/patients/{patient.id}").status_code == 401
    assert _post(Client(), "/api/v1/patients", NEW_PATIENT).status_code == 401


# --- API tokens ------------------------------------------------------------------------------


def _token(membership: Membership, *scopes: TokenScope) -> str:
    """A token bound to ``membership``. Only an organisation admin makes tokens, and only for
    their own membership, so the member is an admin for that moment and then gets its role
    back: the token then acts with that role, as it would after a role change."""
    role = membership.role
    membership.role = Role.ORG_ADMIN
    membership.save(update_fields=["role"])
    _row, plain = api_token_create(
        actor=actor_of(membership), name="Sync", scopes=list(scopes), expires_in_days=30
    )
    membership.role = role
    membership.save(update_fields=["role"])
    return plain


def test_a_patients_read_token_reads_patients_but_never_writes(clinician: Membership) -> None:
    patient = make_patient(clinician)
    plain = _token(clinician, TokenScope.PATIENTS_READ, TokenScope.CASES_WRITE)
    auth = {"Authorization": f"Bearer {plain}"}
    listed = Client().get("/api/v1/patients", headers=auth)
    assert listed.status_code == 200
    assert [p["id"] for p in listed.json()["items"]] == [str(patient.id)]
    assert Client().get(f"/api/v1/patients/{patient.id}", headers=auth).status_code == 200
    # Patient writes take the session only, whatever the token's scopes.
    assert _post(Client(), "/api/v1/patients", NEW_PATIENT, headers=auth).status_code == 401
    assert Patient.objects.count() == 1


def test_a_cases_only_token_cannot_read_patients(clinician: Membership) -> None:
    make_patient(clinician)
    plain = _token(clinician, TokenScope.CASES_READ)
    response = Client().get("/api/v1/patients", headers={"Authorization": f"Bearer {plain}"})
    assert response.status_code == 403
    assert response.json()["code"] == "scope_missing"


# --- query counts ----------------------------------------------------------------------------


def _queries(client: Client, path: str) -> int:
    """The queries one request to ``path`` costs in a session already in use (the first
    request of a session also records it), starting with no data key in memory, as a fresh
    worker would."""
    assert client.get("/api/v1/me").status_code == 200
    dek_cache.clear()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_the_list_costs_the_same_queries_for_2_or_12_patients(
    client: Client, clinician: Membership, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    for n in range(2):
        make_patient(clinician, given_name=f"Patient{n}", health_card="")
    with_two = _queries(client, "/api/v1/patients")
    for n in range(2, 12):
        make_patient(clinician, given_name=f"Patient{n}", health_card="")
    dek_cache.clear()
    with django_assert_num_queries(with_two):
        response = client.get("/api/v1/patients")
    assert response.json()["count"] == 12
    assert len(response.json()["items"]) == 12
    assert {p["given_name"] for p in response.json()["items"]} == {f"Patient{n}" for n in range(12)}


def test_the_list_query_count_is_pinned(client: Client, clinician: Membership) -> None:
    for n in range(3):
        make_patient(clinician, given_name=f"Patient{n}", health_card="")
    # Session, user, memberships, the MFA check; the count, the page, the data keys of its
    # patients (one query); the audited read.
    assert _queries(client, "/api/v1/patients") == 3 + 1 + 3 + audited_read_queries()


def test_a_patient_member_sees_only_their_own_record(
    clinic: Organization, clinician: Membership, member_of: MemberOf, signed_in: SignedIn
) -> None:
    own = member_of(clinic, Role.PATIENT)
    theirs = make_patient(clinician)
    make_patient(clinician, given_name="Someone", health_card="")
    Patient.objects.filter(id=theirs.id).update(patient_user=own.user)
    client = signed_in(own.user)
    listed = client.get("/api/v1/patients").json()
    assert [p["id"] for p in listed["items"]] == [str(theirs.id)]
    assert client.get(f"/api/v1/patients/{theirs.id}").status_code == 200


def test_dates_are_iso(client: Client, clinician: Membership) -> None:
    patient = make_patient(clinician, date_of_birth=datetime.date(2001, 2, 3))
    assert client.get(f"/api/v1/patients/{patient.id}").json()["date_of_birth"] == "2001-02-03"
