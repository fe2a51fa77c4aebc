"""Break-glass: an operator reads one organisation for a stated reason, for ≤ 60 minutes,
every access audited, the expiry audited, the grants visible to that organisation's admins."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.management import call_command
from django.test import Client, RequestFactory

from cuspid.access import services, views
from cuspid.access.actors import OperatorActor
from cuspid.access.enforce import acting_actor
from cuspid.access.models import BreakGlassGrant
from cuspid.access.services import (
    break_glass_actor_for,
    break_glass_expire_due,
    break_glass_start,
)
from cuspid.access.tasks import break_glass_expire
from cuspid.accounts.models import User
from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.audit.models import AuditEvent
from cuspid.core import clock
from cuspid.core.errors import InvalidInput, NotAuthenticated, NotFound
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import LabConnection, Membership, Organization

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=clock.now().tzinfo)


class Clock:
    """The one clock, moved by hand."""

    def __init__(self) -> None:
        self.current = T0

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(clock, "now", fake)
    return fake


@pytest.fixture
def operator(db: None) -> User:
    return User.objects.create_user("ops@cuspid.example", "operator passphrase", is_staff=True)


def _events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("sequence"))


def _start(operator: User, organization: Organization, minutes: int = 30) -> BreakGlassGrant:
    return break_glass_start(
        operator=operator, organization=organization, reason="Ticket 4411: restore", minutes=minutes
    )


# --- without a grant -------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["members", "member", "api_members", "api_member"])
def test_operator_without_a_grant_gets_404_on_phi_routes(
    page: str,
    operator: User,
    clinic: Organization,
    member_of: MemberOf,
    signed_in: SignedIn,
) -> None:
    patient = member_of(clinic, Role.PATIENT)
    path = {
        "members": "/members/",
        "member": f"/members/{patient.id}/",
        "api_members": "/api/v1/members",
        "api_member": f"/api/v1/members/{patient.id}",
    }[page]
    response = signed_in(operator).get(path)
    assert response.status_code == 404
    assert patient.user.email.encode() not in response.content
    assert _events(AuditAction.BreakGlass.Accessed) == []


# --- starting a grant ------------------------------------------------------------------------


def test_start_is_audited_and_time_boxed(
    operator: User, clinic: Organization, frozen_clock: Clock
) -> None:
    grant = _start(operator, clinic, minutes=60)
    assert (grant.started_at, grant.expires_at) == (T0, T0 + timedelta(minutes=60))
    [event] = _events(AuditAction.BreakGlass.Started)
    assert (event.actor_user_id, event.actor_role) == (operator.pk, "operator_break_glass")
    assert event.actor_organization_id == clinic.id
    assert (event.target_type, event.target_id) == ("organization", str(clinic.id))
    assert "Ticket" not in event.purpose


@pytest.mark.parametrize("minutes", [0, 61, -5])
def test_a_grant_lasts_one_to_sixty_minutes(
    minutes: int, operator: User, clinic: Organization
) -> None:
    with pytest.raises(InvalidInput):
        _start(operator, clinic, minutes=minutes)


def test_a_reason_is_required(operator: User, clinic: Organization) -> None:
    with pytest.raises(InvalidInput):
        break_glass_start(operator=operator, organization=clinic, reason="  ", minutes=5)


def test_only_a_platform_operator_may_start(
    clinic: Organization, member_of: MemberOf, user: User
) -> None:
    staff_member = member_of(clinic, Role.ORG_ADMIN).user
    staff_member.is_staff = True
    staff_member.save(update_fields=["is_staff"])
    for someone in (staff_member, user):
        with pytest.raises(NotFound):
            _start(someone, clinic)
    assert not BreakGlassGrant.objects.exists()


def test_one_live_grant_at_a_time(
    operator: User, clinic: Organization, other_clinic: Organization
) -> None:
    _start(operator, clinic)
    with pytest.raises(InvalidInput):
        _start(operator, other_clinic)


# --- reading under a grant -------------------------------------------------------------------


def test_with_a_grant_the_operator_reads_and_each_access_is_audited(
    operator: User,
    clinic: Organization,
    other_clinic: Organization,
    member_of: MemberOf,
    signed_in: SignedIn,
    frozen_clock: Clock,
) -> None:
    patient = member_of(clinic, Role.PATIENT)
    outsider = member_of(other_clinic, Role.PATIENT)
    _start(operator, clinic)
    client = signed_in(operator)

    listing = client.get("/members/")
    detail = client.get(f"/api/v1/members/{patient.id}")
    foreign = client.get(f"/api/v1/members/{outsider.id}")

    assert listing.status_code == detail.status_code == 200
    assert patient.user.email.encode() in listing.content
    assert outsider.user.email.encode() not in listing.content
    assert detail.json()["id"] == str(patient.id)
    assert foreign.status_code == 404
    accessed = _events(AuditAction.BreakGlass.Accessed)
    assert [e.outcome for e in accessed] == [Outcome.ALLOWED, Outcome.ALLOWED, Outcome.DENIED]
    assert {e.actor_organization_id for e in accessed} == {clinic.id}
    assert accessed[0].target_id == "tenancy:member_list"
    reads = _events(AuditAction.Record.Read)
    assert len(reads) == 3
    assert {e.actor_role for e in reads} == {"operator_break_glass"}


def test_break_glass_is_read_only(
    operator: User,
    clinic: Organization,
    connection_: LabConnection,
    signed_in: SignedIn,
) -> None:
    _start(operator, clinic)
    client = signed_in(operator)
    assert client.get("/connections/").status_code == 200
    assert client.get("/audit/").status_code == 403
    assert [e.outcome for e in _events(AuditAction.BreakGlass.Accessed)] == [
        Outcome.ALLOWED,
        Outcome.DENIED,
    ]


def test_the_grant_expires_on_time_and_the_expiry_is_audited(
    operator: User,
    clinic: Organization,
    member_of: MemberOf,
    signed_in: SignedIn,
    frozen_clock: Clock,
) -> None:
    member_of(clinic, Role.PATIENT)
    grant = _start(operator, clinic, minutes=10)
    client = signed_in(operator)
    frozen_clock.advance(minutes=9, seconds=59)
    assert client.get("/members/").status_code == 200
    assert _events(AuditAction.BreakGlass.Expired) == []

    frozen_clock.advance(seconds=1)
    assert client.get("/members/").status_code == 404
    assert client.get("/api/v1/members").status_code == 404

    [expired] = _events(AuditAction.BreakGlass.Expired)
    assert (expired.target_type, expired.target_id) == ("break_glass_grant", str(grant.id))
    assert expired.system_reason == "break_glass_expiry"
    assert expired.occurred_at == T0 + timedelta(minutes=10)
    grant.refresh_from_db()
    assert grant.ended_at == grant.expires_at


def test_the_task_and_the_command_record_expiries(
    operator: User,
    clinic: Organization,
    other_clinic: Organization,
    frozen_clock: Clock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    other_operator = User.objects.create_user("ops2@cuspid.example", "x" * 20, is_staff=True)
    _start(operator, clinic, minutes=5)
    _start(other_operator, other_clinic, minutes=20)
    frozen_clock.advance(minutes=6)
    assert break_glass_expire() == 1
    assert break_glass_expire() == 0
    frozen_clock.advance(minutes=30)
    call_command("break_glass_expire")
    assert capsys.readouterr().out.strip() == "expired 1 break-glass grant(s)"
    assert len(_events(AuditAction.BreakGlass.Expired)) == 2
    assert break_glass_actor_for(operator=operator) is None


def test_an_expiry_already_recorded_is_not_recorded_again(
    operator: User, clinic: Organization, frozen_clock: Clock
) -> None:
    grant = _start(operator, clinic, minutes=5)
    frozen_clock.advance(minutes=6)
    BreakGlassGrant.objects.filter(id=grant.id).update(ended_at=frozen_clock())
    assert services._expire(grant.id) == 0
    assert break_glass_expire_due() == 0


def test_operator_actor_reports_its_identity(operator: User, clinic: Organization) -> None:
    grant = _start(operator, clinic)
    actor = break_glass_actor_for(operator=operator)
    assert isinstance(actor, OperatorActor)
    assert (actor.organization, actor.organization_id, actor.user_id) == (
        clinic,
        clinic.id,
        operator.pk,
    )
    assert actor.grant == grant
    identity = actor.audit_identity()
    assert (identity.user_id, identity.role, identity.organization_id) == (
        operator.pk,
        "operator_break_glass",
        clinic.id,
    )


# --- the break-glass page --------------------------------------------------------------------


def test_operator_starts_a_grant_from_the_page(
    operator: User, clinic: Organization, signed_in: SignedIn
) -> None:
    client = signed_in(operator)
    page = client.get("/break-glass/")
    assert page.status_code == 200
    assert b'name="reason"' in page.content
    response = client.post(
        "/break-glass/",
        {"organization": str(clinic.id), "reason": "Ticket 12: data repair", "minutes": "15"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/break-glass/"
    grant = BreakGlassGrant.objects.get()
    assert (grant.organization, grant.reason) == (clinic, "Ticket 12: data repair")
    assert clinic.name.encode() in client.get("/break-glass/").content


@pytest.mark.parametrize("minutes", ["61", "0"])
def test_the_page_refuses_more_than_sixty_minutes(
    minutes: str, operator: User, clinic: Organization, signed_in: SignedIn
) -> None:
    response = signed_in(operator).post(
        "/break-glass/", {"organization": str(clinic.id), "reason": "r", "minutes": minutes}
    )
    assert response.status_code == 200
    assert not BreakGlassGrant.objects.exists()


def test_the_page_shows_a_service_refusal(
    operator: User, clinic: Organization, signed_in: SignedIn
) -> None:
    _start(operator, clinic)
    response = signed_in(operator).post(
        "/break-glass/", {"organization": str(clinic.id), "reason": "again", "minutes": "5"}
    )
    assert response.status_code == 200
    assert b"already live" in response.content
    assert BreakGlassGrant.objects.count() == 1


def test_admins_see_the_grants_on_their_organization(
    operator: User,
    clinic: Organization,
    other_clinic: Organization,
    member_of: MemberOf,
    signed_in: SignedIn,
) -> None:
    _start(operator, clinic)
    other_operator = User.objects.create_user("ops2@cuspid.example", "x" * 20, is_staff=True)
    break_glass_start(
        operator=other_operator, organization=other_clinic, reason="Elsewhere 9", minutes=5
    )
    client = signed_in(member_of(clinic, Role.ORG_ADMIN).user)
    response = client.get("/break-glass/")
    assert response.status_code == 200
    assert b"Ticket 4411: restore" in response.content
    assert b"Elsewhere 9" not in response.content
    assert b'href="/break-glass/"' in response.content
    assert client.post("/break-glass/").status_code == 404


def test_other_roles_and_other_users_do_not_see_the_page(
    clinic: Organization, member_of: MemberOf, signed_in: SignedIn, user: User
) -> None:
    assert signed_in(member_of(clinic, Role.CLINICIAN).user).get("/break-glass/").status_code == 403
    assert signed_in(user).get("/break-glass/").status_code == 404
    assert Client().get("/break-glass/").status_code == 302


def test_acting_actor_refuses_signed_out_and_organizationless_requests(user: User) -> None:
    request = RequestFactory().get("/members/")
    request.user = AnonymousUser()
    with pytest.raises(NotAuthenticated):
        acting_actor(request)
    with pytest.raises(NotAuthenticated):
        views.break_glass(request)
    request.user = user
    with pytest.raises(NotFound):
        acting_actor(request)


def test_a_grant_names_its_operator_and_organization(operator: User, clinic: Organization) -> None:
    grant = _start(operator, clinic)
    assert str(grant) == f"break-glass {operator.pk} @ {clinic.id}"


def test_under_break_glass_the_layout_names_the_organization(
    operator: User, clinic: Organization, signed_in: SignedIn
) -> None:
    _start(operator, clinic)
    response = signed_in(operator).get("/members/")
    assert response.status_code == 200
    assert clinic.name.encode() in response.content
    assert b'href="/break-glass/"' in response.content


def test_break_glass_reads_cases_but_changes_none(
    operator: User,
    clinic: Organization,
    lab: Organization,
    connection_: LabConnection,
    signed_in: SignedIn,
) -> None:
    # The matrix lets a break-glass operator reach the case-transition route (it needs only
    # case:view); the write itself refuses anyone who is not a member.
    from cuspid.cases.models import Case
    from tests.factories import make_membership
    from tests.factories.cases import make_case, send_case

    clinician = make_membership(organization=clinic, role="clinician")
    case = send_case(clinician, make_case(clinician), lab)
    _start(operator, clinic)
    client = signed_in(operator)
    assert client.get(f"/api/v1/cases/{case.id}").status_code == 200
    refused = client.post(
        f"/api/v1/cases/{case.id}/transitions",
        {"action": "cancel", "reason": ""},
        content_type="application/json",
    )
    assert refused.status_code == 403
    assert Case.objects.get(id=case.id).status == "submitted"
    page = client.post(f"/cases/{case.id}/actions/", {"action": "cancel"})
    assert page.status_code == 403
    assert Case.objects.get(id=case.id).status == "submitted"
