"""Reads of PHI-scoped pages and operations leave exactly one ``record:read`` event each."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from django.test import Client

from cuspid.access.interceptor import read_outcome
from cuspid.accounts.models import User
from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.audit.models import AuditEvent
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import LabConnection, Membership, Organization
from tests.factories import make_membership

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]


def _reads() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditAction.Record.Read).order_by("sequence"))


@pytest.fixture
def operator(db: None) -> User:
    return User.objects.create_user("ops@cuspid.example", "operator passphrase", is_staff=True)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.ALLOWED),
        (302, Outcome.ALLOWED),
        (403, Outcome.DENIED),
        (404, Outcome.DENIED),
        (422, Outcome.DENIED),
        (500, Outcome.ERROR),
        (503, Outcome.ERROR),
    ],
)
def test_outcome_follows_the_status(status: int, outcome: Outcome) -> None:
    assert read_outcome(status) == outcome


@pytest.mark.parametrize("kind", ["page", "api"])
def test_a_successful_member_list_read_leaves_one_allowed_event(
    kind: str, clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    admin = member_of(clinic, Role.ORG_ADMIN)
    path = "/members/" if kind == "page" else "/api/v1/members"
    assert signed_in(admin.user).get(path).status_code == 200
    [event] = _reads()
    assert event.outcome == Outcome.ALLOWED
    assert event.data_type == "membership"
    assert event.actor_user_id == admin.user.pk
    assert event.actor_role == "org_admin"
    assert event.actor_organization_id == clinic.id
    assert event.target_id == ""


@pytest.mark.parametrize("kind", ["page", "api"])
def test_a_member_read_names_the_member(
    kind: str, clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    colleague = member_of(clinic, Role.PATIENT)
    client = signed_in(member_of(clinic, Role.ORG_ADMIN).user)
    path = f"/members/{colleague.id}/" if kind == "page" else f"/api/v1/members/{colleague.id}"
    assert client.get(path).status_code == 200
    [event] = _reads()
    assert (event.outcome, event.target_type, event.target_id) == (
        Outcome.ALLOWED,
        "membership",
        str(colleague.id),
    )


@pytest.mark.parametrize("kind", ["page", "api"])
def test_another_organizations_member_leaves_one_denied_event(
    kind: str,
    clinic: Organization,
    other_clinic: Organization,
    member_of: MemberOf,
    signed_in: SignedIn,
) -> None:
    outsider = member_of(other_clinic, Role.PATIENT)
    client = signed_in(member_of(clinic, Role.ORG_ADMIN).user)
    path = f"/members/{outsider.id}/" if kind == "page" else f"/api/v1/members/{outsider.id}"
    assert client.get(path).status_code == 404
    [event] = _reads()
    assert event.outcome == Outcome.DENIED
    assert event.target_id == str(outsider.id)


@pytest.mark.parametrize("kind", ["page", "api"])
def test_a_role_without_the_permission_leaves_one_denied_event(
    kind: str, clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    staff = member_of(clinic, Role.STAFF)
    path = "/members/" if kind == "page" else "/api/v1/members"
    assert signed_in(staff.user).get(path).status_code == 403
    [event] = _reads()
    assert (event.outcome, event.actor_role) == (Outcome.DENIED, "staff")


@pytest.mark.parametrize("path", ["/members/", "/api/v1/members"])
def test_an_operator_without_break_glass_leaves_one_denied_event(
    path: str, operator: User, clinic: Organization, signed_in: SignedIn
) -> None:
    assert signed_in(operator).get(path).status_code == 404
    [event] = _reads()
    assert event.outcome == Outcome.DENIED
    assert (event.actor_user_id, event.actor_role) == (operator.pk, "platform_operator")
    assert event.actor_organization_id is None


def test_a_user_with_no_organization_who_is_not_staff_is_recorded_without_a_role(
    user: User, signed_in: SignedIn
) -> None:
    assert signed_in(user).get("/api/v1/members").status_code == 404
    [event] = _reads()
    assert (event.actor_user_id, event.actor_role) == (user.pk, "")


def test_an_error_leaves_one_error_event(
    clinic: Organization,
    member_of: MemberOf,
    signed_in: SignedIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(**kwargs: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr("cuspid.tenancy.api.member_list_for", broken)
    client = signed_in(member_of(clinic, Role.ORG_ADMIN).user)
    assert client.get("/api/v1/members").status_code == 500
    [event] = _reads()
    assert event.outcome == Outcome.ERROR


def test_an_id_that_is_not_a_code_is_left_out(
    clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    client = signed_in(member_of(clinic, Role.ORG_ADMIN).user)
    assert client.get("/api/v1/members/not%20an%20id").status_code == 422
    [event] = _reads()
    assert (event.outcome, event.target_id) == (Outcome.DENIED, "")


def test_routes_that_are_not_phi_scoped_are_not_recorded(
    clinic: Organization, connection_: LabConnection, member_of: MemberOf, signed_in: SignedIn
) -> None:
    client = signed_in(member_of(clinic, Role.CLINICIAN).user)
    assert client.get("/connections/").status_code == 200
    assert client.get("/api/v1/lab-connections").status_code == 200
    assert client.get("/").status_code == 200
    assert _reads() == []


def test_signed_out_and_write_requests_are_not_recorded_as_reads(
    clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    assert Client().get("/members/").status_code == 302
    assert Client().get("/api/v1/members").status_code == 401
    assert signed_in(member_of(clinic, Role.ORG_ADMIN).user).post("/members/").status_code == 405
    assert _reads() == []


# --- the organisation switch -----------------------------------------------------------------


def _switches() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditAction.Org.Switched).order_by("sequence"))


@pytest.mark.parametrize("kind", ["page", "api"])
def test_switching_organization_is_audited(
    kind: str,
    clinic: Organization,
    other_clinic: Organization,
    member_of: MemberOf,
    signed_in: SignedIn,
) -> None:
    membership = member_of(clinic, Role.CLINICIAN)
    make_membership(user=membership.user, organization=other_clinic, role=Role.STAFF)
    client = signed_in(membership.user)
    if kind == "page":
        client.post("/organizations/switch/", {"organization": str(other_clinic.id)})
    else:
        client.put(
            "/api/v1/me/active-organization",
            {"organization_id": str(other_clinic.id)},
            content_type="application/json",
        )
    [event] = _switches()
    assert event.outcome == Outcome.ALLOWED
    assert (event.target_type, event.target_id) == ("organization", str(other_clinic.id))
    assert (event.actor_organization_id, event.actor_role) == (other_clinic.id, "staff")


@pytest.mark.parametrize("target", ["foreign", "garbage", "api"])
def test_a_refused_switch_is_audited_as_denied(
    target: str,
    clinic: Organization,
    other_clinic: Organization,
    member_of: MemberOf,
    signed_in: SignedIn,
) -> None:
    membership = member_of(clinic, Role.CLINICIAN)
    client = signed_in(membership.user)
    if target == "api":
        response = client.put(
            "/api/v1/me/active-organization",
            {"organization_id": str(other_clinic.id)},
            content_type="application/json",
        )
    else:
        wanted = str(other_clinic.id) if target == "foreign" else "not an id"
        response = client.post("/organizations/switch/", {"organization": wanted})
    assert response.status_code == 404
    [event] = _switches()
    assert event.outcome == Outcome.DENIED
    assert event.target_id == ("" if target == "garbage" else str(other_clinic.id))
    assert (event.actor_organization_id, event.actor_role) == (clinic.id, "clinician")


def test_reads_of_an_unknown_id_are_denied_too(
    clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    client = signed_in(member_of(clinic, Role.ORG_ADMIN).user)
    assert client.get(f"/members/{uuid.uuid4()}/").status_code == 404
    assert [e.outcome for e in _reads()] == [Outcome.DENIED]
