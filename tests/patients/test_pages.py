"""The patient pages: who may open them, the exact search, the form, and fixed query counts."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pytest_django import DjangoAssertNumQueries

from cuspid.accounts.models import User
from cuspid.audit.actions import AuditAction
from cuspid.audit.models import AuditEvent
from cuspid.core import clock
from cuspid.keys.crypto import dek_cache
from cuspid.patients.models import Patient
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.factories.cases import PATIENT_EMAIL, PATIENT_HEALTH_CARD, make_case, make_patient

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]

LIST = "/patients/"
NEW = "/patients/new/"


@pytest.fixture
def clinician(clinic: Organization, member_of: MemberOf) -> Membership:
    return member_of(clinic, Role.CLINICIAN)


@pytest.fixture
def client(clinician: Membership, signed_in: SignedIn) -> Client:
    return signed_in(clinician.user)


def _page(client: Client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status
    return response.content.decode()


def _linked(body: str) -> set[str]:
    """The ids of the patient records a page links to."""
    return set(re.findall(r"/patients/([0-9a-f-]{36})/", body))


def _others(membership: Membership, count: int) -> list[Patient]:
    """Patients with their own names, cards and emails (none is Ada Lovelace)."""
    return [
        make_patient(
            membership,
            given_name=f"Grace{n}",
            family_name="Hopper",
            health_card=f"9999-000-{n:03d}",
            email=f"grace{n}@patient.example",
            chart_number=f"CH-{2000 + n}",
        )
        for n in range(count)
    ]


def _form(**changes: str) -> dict[str, str]:
    values = {
        "given_name": "Mary",
        "family_name": "Anning",
        "date_of_birth": "1999-05-21",
        "sex": "female",
        "health_card": "5555-111-222",
        "chart_number": "CH-3001",
        "email": "mary.anning@patient.example",
        "phone": "+1 416 555 0123",
        "address": "2 Fossil Row",
        "preferred_language": "fr",
        "notes": "",
    }
    values.update(changes)
    return values


# --- who may open the pages ----------------------------------------------------------------


def test_signed_out_visitors_are_sent_to_sign_in(db: None) -> None:
    for url in (LIST, NEW):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.STAFF])
def test_clinic_care_roles_see_the_list_and_the_nav_item(
    clinic: Organization, member_of: MemberOf, signed_in: SignedIn, role: Role
) -> None:
    member = member_of(clinic, role)
    make_patient(member)
    body = _page(signed_in(member.user), LIST)
    assert "Lovelace, Ada" in body
    assert 'href="/patients/"' in body  # the nav item


def test_labs_and_org_admins_are_refused_and_have_no_nav_item(
    clinic: Organization,
    lab: Organization,
    member_of: MemberOf,
    signed_in: SignedIn,
    clinician: Membership,
) -> None:
    patient = make_patient(clinician)
    for member in (member_of(lab, Role.DESIGNER), member_of(clinic, Role.ORG_ADMIN)):
        client = signed_in(member.user)
        assert client.get(LIST).status_code == 403
        assert client.get(f"/patients/{patient.id}/").status_code == 403
        assert 'href="/patients/"' not in _page(client, "/")


def test_another_clinics_patient_is_not_found(
    client: Client, other_clinic: Organization, member_of: MemberOf
) -> None:
    theirs = make_patient(member_of(other_clinic, Role.CLINICIAN), given_name="Foreign")
    assert client.get(f"/patients/{theirs.id}/").status_code == 404
    assert client.get(f"/patients/{theirs.id}/edit/").status_code == 404
    assert "Foreign" not in _page(client, LIST)


def test_the_empty_list_offers_to_register_a_patient(client: Client) -> None:
    body = _page(client, LIST)
    assert "No patients yet" in body
    assert f'href="{NEW}"' in body
    assert "search is exact" in body.lower()


# --- exact search ----------------------------------------------------------------------------


def test_search_by_health_card_finds_exactly_the_patient(
    client: Client, clinician: Membership
) -> None:
    _others(clinician, 3)
    ada = make_patient(clinician)
    body = _page(client, f"{LIST}?health_card={PATIENT_HEALTH_CARD}")
    assert _linked(body) == {str(ada.id)}
    assert "Grace" not in body
    assert "1 patient matches this search" in body


def test_search_by_name_and_date_of_birth_finds_exactly_the_patient(
    client: Client, clinician: Membership
) -> None:
    _others(clinician, 2)
    make_patient(clinician, date_of_birth=datetime.date(1981, 1, 1), health_card="1", email="")
    ada = make_patient(clinician)
    body = _page(client, f"{LIST}?given_name=ada&family_name=LOVELACE&date_of_birth=1980-12-10")
    assert _linked(body) == {str(ada.id)}
    assert "1 patient matches this search" in body


def test_search_by_email_and_a_miss(client: Client, clinician: Membership) -> None:
    _others(clinician, 2)
    ada = make_patient(clinician)
    assert _linked(_page(client, f"{LIST}?email={PATIENT_EMAIL.upper()}")) == {str(ada.id)}
    missed = _page(client, f"{LIST}?health_card=1234-567-890")  # not the whole number
    assert "No patient matches this search" in missed
    assert "Lovelace" not in missed


def test_a_name_without_date_of_birth_asks_for_all_three(
    client: Client, clinician: Membership
) -> None:
    make_patient(clinician)
    body = _page(client, f"{LIST}?given_name=Ada&family_name=Lovelace")
    assert "enter the given name, family name and date of birth" in body
    assert "Lovelace, Ada" not in body


# --- a record --------------------------------------------------------------------------------


def test_the_record_shows_every_field_and_the_patients_cases(
    client: Client, clinician: Membership
) -> None:
    patient = make_patient(clinician)
    case = make_case(clinician, patient)
    body = _page(client, f"/patients/{patient.id}/")
    for value in ("Ada", "Lovelace", "1980-12-10", PATIENT_EMAIL, "+1 416 555 0199"):
        assert value in body
    for value in ("1 Example Street, Toronto", PATIENT_HEALTH_CARD, "CH-1001", "latex"):
        assert value in body
    assert case.reference in body
    assert f"/cases/new/?patient={patient.id}" in body
    read = AuditEvent.objects.filter(action=AuditAction.Record.Read).latest("sequence")
    assert read.subject_patient == str(patient.id)


# --- the form --------------------------------------------------------------------------------


def test_registering_a_patient_seals_the_record_and_shows_it(
    client: Client, clinic: Organization
) -> None:
    response = client.post(NEW, _form())
    patient = Patient.objects.get(organization=clinic)
    assert response.status_code == 302
    assert response["Location"] == f"/patients/{patient.id}/"
    assert (patient.given_name, patient.preferred_language) == ("Mary", "fr")
    assert patient.date_of_birth == datetime.date(1999, 5, 21)
    assert "Patient registered." in _page(client, response["Location"])


def test_a_refused_patient_is_shown_on_the_form_and_nothing_is_stored(client: Client) -> None:
    tomorrow = clock.now().date() + datetime.timedelta(days=2)
    response = client.post(NEW, _form(date_of_birth=tomorrow.isoformat()))
    assert response.status_code == 422
    assert "Enter a date of birth between 1900 and today." in response.content.decode()
    missing = client.post(NEW, _form(given_name=""))
    assert missing.status_code == 422
    assert not Patient.objects.exists()


def test_editing_a_patient_starts_from_the_record_and_saves(
    client: Client, clinician: Membership
) -> None:
    patient = make_patient(clinician)
    form = _page(client, f"/patients/{patient.id}/edit/")
    assert 'value="Lovelace"' in form
    assert 'value="1980-12-10"' in form
    response = client.post(f"/patients/{patient.id}/edit/", _form(given_name="Augusta"))
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.given_name == "Augusta"
    assert patient.email == "mary.anning@patient.example"


def test_staff_may_register_but_a_lab_may_not_post(
    clinic: Organization, lab: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    assert signed_in(member_of(clinic, Role.STAFF).user).post(NEW, _form()).status_code == 302
    assert signed_in(member_of(lab, Role.DESIGNER).user).post(NEW, _form()).status_code == 403
    assert Patient.objects.count() == 1


# --- query counts ----------------------------------------------------------------------------


def _queries(client: Client, url: str) -> int:
    # The first request of a session writes its bookkeeping (last seen, device); later ones
    # do not, so the counts compare like with like.
    assert client.get(url).status_code == 200
    dek_cache.clear()  # every page opens its patients' keys from the database
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_list_costs_the_same_queries_for_2_and_for_12_patients(
    client: Client, clinician: Membership, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    for patient in _others(clinician, 2):
        make_case(clinician, patient, scans=0)
    two = _queries(client, LIST)
    _others(clinician, 10)
    dek_cache.clear()
    with django_assert_num_queries(two):
        body = client.get(LIST).content.decode()
    assert body.count("Hopper, Grace") == 12
