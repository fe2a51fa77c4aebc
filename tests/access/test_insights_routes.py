"""Who reaches the insights page, its CSV and ``GET /api/v1/insights``, and whose cases each
caller's figures count: the owning clinic, another clinic, the connected lab, an
unconnected lab, the lab after the clinic withdrew a case, and the roles without
``Perm.InsightsView``.

The routes name no object, so nobody gets a 404 for a foreign id: each caller gets its own
organisation's figures, and the figures of an organisation never count another's cases.
They show counts, durations and member names but no patient and no case, so they are not
PHI-scoped reads: no ``record:read`` is audited, and a refusal is a plain 403.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings

from cuspid.access import routes
from cuspid.access.permissions import Perm
from cuspid.accounts.models import User
from cuspid.audit.models import AuditEvent
from cuspid.cases.models import Case
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.factories import make_lab, make_lab_connection, make_user
from tests.factories.cases import make_case, make_patient, send_case, transition

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]

GIVEN, FAMILY = "Philippa", "Quarrington-Zeal"
PAGE, CSV, API = "cases:insights", "cases:insights_csv", "insights_get"
ROUTES = (PAGE, CSV, API)


def _url(route: str) -> str:
    return "/api/v1/insights" if route == API else reverse(route)


@dataclass(frozen=True, slots=True)
class Scenario:
    clinician: Membership
    staff: Membership
    admin: Membership
    patient_member: Membership
    other_clinician: Membership
    designer: Membership
    lab_staff: Membership
    lab_admin: Membership
    unconnected_designer: Membership
    shared: Case
    withdrawn: Case


@pytest.fixture(autouse=True)
def _blob_store(settings: Settings, tmp_path: Path) -> None:
    location = tmp_path / "blobs"
    settings.CUSPID_BLOB_DIR = location
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location)},
        },
    }


@pytest.fixture
def scenario(
    clinic: Organization, other_clinic: Organization, lab: Organization, member_of: MemberOf
) -> Scenario:
    """Clinic A sends two cases to lab L (connected), which accepts both; A then withdraws
    the second. Clinic B and lab M (unconnected) have nothing to do with them."""
    make_lab_connection(clinic=clinic, lab=lab)
    clinician = member_of(clinic, Role.CLINICIAN)
    lab_staff = member_of(lab, Role.LAB_STAFF)
    patient = make_patient(clinician, given_name=GIVEN, family_name=FAMILY)
    shared = send_case(clinician, make_case(clinician, patient), lab)
    shared = transition(lab_staff, shared, "accept")
    withdrawn = send_case(clinician, make_case(clinician, patient), lab)
    withdrawn = transition(lab_staff, withdrawn, "accept")
    withdrawn = transition(clinician, withdrawn, "revoke_share")
    assert withdrawn.shared_with_lab_id is None
    return Scenario(
        clinician=clinician,
        staff=member_of(clinic, Role.STAFF),
        admin=member_of(clinic, Role.ORG_ADMIN),
        patient_member=member_of(clinic, Role.PATIENT),
        other_clinician=member_of(other_clinic, Role.CLINICIAN),
        designer=member_of(lab, Role.DESIGNER),
        lab_staff=lab_staff,
        lab_admin=member_of(lab, Role.ORG_ADMIN),
        unconnected_designer=member_of(make_lab(name="Distant Lab"), Role.DESIGNER),
        shared=shared,
        withdrawn=withdrawn,
    )


def test_the_routes_need_insights_view_and_read_no_phi() -> None:
    for name in (PAGE, CSV):
        assert routes.PAGES[name] == routes.needs(Perm.InsightsView)
    assert routes.OPERATIONS[API] == routes.needs(Perm.InsightsView)
    assert reverse(PAGE) == "/insights/"
    assert reverse(CSV) == "/insights.csv"


# Who asks, how many cases opened in the period they count, how many of those were sent to a
# lab, and what the page says about the owner of the cases.
CALLERS = [
    # The owning clinic: both cases (the withdrawn one was sent, so it has a timeline).
    ("clinician", 2, 2),
    ("staff", 2, 2),
    ("admin", 2, 2),
    # Another clinic: none of them.
    ("other_clinician", 0, 0),
    # The connected lab: the case it still holds, not the one withdrawn from it.
    ("designer", 1, 1),
    ("lab_staff", 1, 1),
    ("lab_admin", 1, 1),
    # A lab never sent anything.
    ("unconnected_designer", 0, 0),
]


@pytest.mark.parametrize(("who", "cases", "sent"), CALLERS)
def test_each_caller_counts_only_its_own_organisation_cases(
    scenario: Scenario, signed_in: SignedIn, who: str, cases: int, sent: int
) -> None:
    member: Membership = getattr(scenario, who)
    client = signed_in(member.user)
    audited = AuditEvent.objects.count()

    api = client.get(_url(API))
    assert api.status_code == 200
    assert (api.json()["cases"], api.json()["overall"]["cases"]) == (cases, sent)
    accepted = api.json()["overall"]["stages"][0]["n"]
    assert accepted == sent

    page = client.get(_url(PAGE))
    assert page.status_code == 200
    assert page.context["insights"].cases == cases

    download = client.get(_url(CSV))
    assert download.status_code == 200
    rows = list(csv.DictReader(io.StringIO(download.content.decode())))
    overall = [row for row in rows if row["breakdown"] == "all"]
    assert {row["group_cases"] for row in overall} == {str(sent)}

    for response in (api, page, download):
        _assert_no_patient_and_no_case(response, scenario)
    # Counts and names only: nothing PHI-scoped was read, so nothing was audited.
    assert AuditEvent.objects.count() == audited


def _assert_no_patient_and_no_case(response: TestResponse, scenario: Scenario) -> None:
    text = response.content.decode()
    assert GIVEN not in text
    assert FAMILY not in text
    for case in (scenario.shared, scenario.withdrawn):
        assert str(case.id) not in text
        assert str(case.patient_id) not in text
        assert case.reference not in text


@pytest.mark.parametrize("route", ROUTES)
def test_a_role_without_insights_view_is_refused(
    scenario: Scenario, signed_in: SignedIn, route: str
) -> None:
    client = signed_in(scenario.patient_member.user)
    audited = AuditEvent.objects.count()

    response = client.get(_url(route))

    assert response.status_code == 403
    assert GIVEN not in response.content.decode()
    assert AuditEvent.objects.count() == audited


@pytest.mark.parametrize("route", ROUTES)
def test_signed_out_callers_are_sent_to_sign_in(db: None, route: str) -> None:
    response = Client().get(_url(route))

    if route == API:
        assert response.status_code == 401
    else:
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("account_login"))


@pytest.mark.parametrize("route", ROUTES)
def test_a_platform_operator_without_a_grant_finds_nothing(
    db: None, signed_in: SignedIn, route: str
) -> None:
    operator = make_user(is_staff=True, mfa=True)

    assert signed_in(operator).get(_url(route)).status_code == 404


def test_the_navigation_links_insights_for_the_roles_that_may_see_them(
    scenario: Scenario, signed_in: SignedIn
) -> None:
    link = f'href="{reverse(PAGE)}"'
    for member in (scenario.clinician, scenario.admin, scenario.designer, scenario.lab_staff):
        page = signed_in(member.user).get(reverse("web:dashboard"))
        assert link in page.content.decode(), member.role
    current = signed_in(scenario.staff.user).get(reverse(PAGE)).content.decode()
    assert f'{link} aria-current="page"' in current
    patient_page = signed_in(scenario.patient_member.user).get(reverse("web:dashboard"))
    assert link not in patient_page.content.decode()
