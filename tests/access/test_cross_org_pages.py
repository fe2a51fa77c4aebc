"""HTML pages across organisations: sign-in, roles, foreign ids, the switcher, operators."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from django.test import Client

from cuspid.accounts.models import User
from cuspid.tenancy.enums import Role
from cuspid.tenancy.middleware import ACTIVE_ORGANIZATION_SESSION_KEY
from cuspid.tenancy.models import LabConnection, Membership, Organization
from tests.access.bodies import normalised
from tests.factories import make_lab_connection, make_membership

if TYPE_CHECKING:
    # The test client's response type (with .templates and .json()) is private in the stubs.
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]


def _templates(response: TestResponse) -> list[str]:
    return [t.name for t in getattr(response, "templates", []) if t.name]


def _normalised(response: TestResponse, requested_id: object) -> bytes:
    """The body without what differs by design: CSRF tokens and the requested path."""
    return normalised(response.content, requested_id)


def _active_organization(client: Client) -> str | None:
    value = client.session.get(ACTIVE_ORGANIZATION_SESSION_KEY)
    return None if value is None else str(value)


@pytest.fixture
def operator(db: None) -> User:
    """A platform operator: staff, no membership anywhere."""
    return User.objects.create_user("ops@cuspid.example", "operator passphrase", is_staff=True)


# --- signed out ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/profile/", "/members/", f"/members/{uuid.UUID(int=7)}/", "/connections/"]
)
def test_signed_out_pages_redirect_to_sign_in(path: str, db: None) -> None:
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_signed_out_switcher_post_redirects_to_sign_in(clinic: Organization) -> None:
    response = Client().post("/organizations/switch/", {"organization": str(clinic.id)})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


# --- members ---------------------------------------------------------------------------------


def test_admin_sees_members_and_one_member(
    clinic: Organization, other_clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    admin = member_of(clinic, Role.ORG_ADMIN)
    colleague = member_of(clinic, Role.STAFF)
    outsider = member_of(other_clinic, Role.STAFF)
    client = signed_in(admin.user)

    listing = client.get("/members/")
    assert listing.status_code == 200
    assert colleague.user.email.encode() in listing.content
    assert outsider.user.email.encode() not in listing.content

    detail = client.get(f"/members/{colleague.id}/")
    assert detail.status_code == 200
    assert "tenancy/member_detail.html" in _templates(detail)
    assert colleague.user.email.encode() in detail.content


def test_foreign_member_page_is_the_same_404_as_a_random_id(
    clinic: Organization, other_clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    outsider = member_of(other_clinic, Role.CLINICIAN)
    client = signed_in(member_of(clinic, Role.ORG_ADMIN).user)

    random_id = uuid.uuid4()
    foreign = client.get(f"/members/{outsider.id}/")
    absent = client.get(f"/members/{random_id}/")

    assert foreign.status_code == absent.status_code == 404
    assert "404.html" in _templates(foreign)
    assert _templates(foreign) == _templates(absent)
    assert _normalised(foreign, outsider.id) == _normalised(absent, random_id)
    assert outsider.user.email.encode() not in foreign.content
    assert (outsider.user.full_name or "").encode() not in foreign.content


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.STAFF, Role.PATIENT])
def test_non_admins_get_403_on_members(
    role: Role, clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    colleague = member_of(clinic, Role.CLINICIAN)
    client = signed_in(member_of(clinic, role).user)
    listing = client.get("/members/")
    detail = client.get(f"/members/{colleague.id}/")
    assert listing.status_code == detail.status_code == 403
    assert "403.html" in _templates(listing)
    assert colleague.user.email.encode() not in listing.content
    assert colleague.user.email.encode() not in detail.content


def test_non_admin_gets_the_same_answer_for_a_foreign_and_a_random_member_page(
    clinic: Organization, other_clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    # The role is refused before any lookup (route declaration), so the answer never depends
    # on whether a foreign id exists.
    outsider = member_of(other_clinic, Role.CLINICIAN)
    client = signed_in(member_of(clinic, Role.STAFF).user)
    random_id = uuid.uuid4()
    foreign = client.get(f"/members/{outsider.id}/")
    absent = client.get(f"/members/{random_id}/")
    assert foreign.status_code == absent.status_code == 403
    assert _normalised(foreign, outsider.id) == _normalised(absent, random_id)


def test_members_page_does_not_accept_post(
    clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    client = signed_in(member_of(clinic, Role.ORG_ADMIN).user)
    assert client.post("/members/").status_code == 405


# --- connections -----------------------------------------------------------------------------


def test_connections_page_lists_own_connections_only(
    clinic: Organization,
    other_clinic: Organization,
    lab: Organization,
    connection_: LabConnection,
    member_of: MemberOf,
    signed_in: SignedIn,
) -> None:
    make_lab_connection(clinic=other_clinic, lab=lab)
    response = signed_in(member_of(clinic, Role.CLINICIAN).user).get("/connections/")
    assert response.status_code == 200
    assert lab.name.encode() in response.content
    assert other_clinic.name.encode() not in response.content


def test_lab_connections_page_lists_the_clinics(
    clinic: Organization,
    lab: Organization,
    connection_: LabConnection,
    member_of: MemberOf,
    signed_in: SignedIn,
) -> None:
    response = signed_in(member_of(lab, Role.DESIGNER).user).get("/connections/")
    assert response.status_code == 200
    assert clinic.name.encode() in response.content


def test_patient_gets_403_on_connections(
    clinic: Organization,
    lab: Organization,
    connection_: LabConnection,
    member_of: MemberOf,
    signed_in: SignedIn,
) -> None:
    response = signed_in(member_of(clinic, Role.PATIENT).user).get("/connections/")
    assert response.status_code == 403
    assert lab.name.encode() not in response.content


# --- the organisation switcher ---------------------------------------------------------------


def test_switcher_moves_to_another_own_organization(
    clinic: Organization, other_clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    membership = member_of(clinic, Role.CLINICIAN)
    make_membership(user=membership.user, organization=other_clinic, role=Role.ORG_ADMIN)
    client = signed_in(membership.user)
    assert client.get("/").status_code == 200
    assert _active_organization(client) == str(clinic.id)
    assert client.get("/members/").status_code == 403

    response = client.post("/organizations/switch/", {"organization": str(other_clinic.id)})

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert _active_organization(client) == str(other_clinic.id)
    assert client.get("/members/").status_code == 200


@pytest.mark.parametrize("kind", ["foreign", "random", "garbage"])
def test_switcher_post_with_a_foreign_org_is_404_and_changes_nothing(
    kind: str,
    clinic: Organization,
    other_clinic: Organization,
    member_of: MemberOf,
    signed_in: SignedIn,
) -> None:
    client = signed_in(member_of(clinic, Role.ORG_ADMIN).user)
    assert client.get("/").status_code == 200
    before = _active_organization(client)
    assert before == str(clinic.id)
    target = {"foreign": str(other_clinic.id), "random": str(uuid.uuid4()), "garbage": "x"}[kind]

    response = client.post("/organizations/switch/", {"organization": target})

    assert response.status_code == 404
    assert "404.html" in _templates(response)
    assert _active_organization(client) == before
    dashboard = client.get("/")
    assert clinic.name.encode() in dashboard.content
    assert other_clinic.name.encode() not in dashboard.content


def test_switcher_refuses_a_deactivated_membership(
    clinic: Organization, other_clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    membership = member_of(clinic, Role.CLINICIAN)
    make_membership(
        user=membership.user, organization=other_clinic, role=Role.STAFF, is_active=False
    )
    client = signed_in(membership.user)
    client.get("/")
    response = client.post("/organizations/switch/", {"organization": str(other_clinic.id)})
    assert response.status_code == 404
    assert _active_organization(client) == str(clinic.id)


def test_switcher_refuses_get(
    clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    client = signed_in(member_of(clinic, Role.CLINICIAN).user)
    assert client.get("/organizations/switch/").status_code == 405


# --- dashboard and profile -------------------------------------------------------------------


def test_dashboard_shows_the_active_organization(
    clinic: Organization, other_clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    response = signed_in(member_of(clinic, Role.CLINICIAN).user).get("/")
    assert response.status_code == 200
    assert "web/dashboard.html" in _templates(response)
    assert clinic.name.encode() in response.content
    assert other_clinic.name.encode() not in response.content


def test_patient_dashboard_is_the_patient_page(
    clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    response = signed_in(member_of(clinic, Role.PATIENT).user).get("/")
    assert response.status_code == 200
    assert "web/dashboard_patient.html" in _templates(response)


def test_profile_page_opens_for_a_member(
    clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    membership = member_of(clinic, Role.STAFF)
    response = signed_in(membership.user).get("/profile/")
    assert response.status_code == 200
    assert membership.user.email.encode() in response.content


# --- platform operators ----------------------------------------------------------------------


def test_operator_sees_the_operator_dashboard(
    operator: User, clinic: Organization, signed_in: SignedIn
) -> None:
    response = signed_in(operator).get("/")
    assert response.status_code == 200
    assert "web/dashboard_operator.html" in _templates(response)
    assert clinic.name.encode() not in response.content


def test_operator_profile_page_opens(operator: User, signed_in: SignedIn) -> None:
    response = signed_in(operator).get("/profile/")
    assert response.status_code == 200
    assert b"ops@cuspid.example" in response.content


@pytest.mark.parametrize("page", ["members", "member", "connections"])
def test_operator_gets_404_on_organization_pages(
    page: str,
    operator: User,
    clinic: Organization,
    connection_: LabConnection,
    member_of: MemberOf,
    signed_in: SignedIn,
) -> None:
    member = member_of(clinic, Role.CLINICIAN)
    path = {
        "members": "/members/",
        "member": f"/members/{member.id}/",
        "connections": "/connections/",
    }[page]
    response = signed_in(operator).get(path)
    assert response.status_code == 404
    assert "404.html" in _templates(response)
    assert member.user.email.encode() not in response.content


def test_operator_switcher_post_is_404(
    operator: User, clinic: Organization, signed_in: SignedIn
) -> None:
    client = signed_in(operator)
    response = client.post("/organizations/switch/", {"organization": str(clinic.id)})
    assert response.status_code == 404
    assert _active_organization(client) is None
