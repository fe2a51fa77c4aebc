"""Tenancy services (organisations, memberships, connections) and the Actor middleware."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.utils import timezone

from cuspid.accounts.models import User
from cuspid.core.errors import InvalidInput
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.enums import ConnectionStatus, OrganizationKind, Role
from cuspid.tenancy.middleware import ACTIVE_ORGANIZATION_SESSION_KEY, ActorMiddleware
from cuspid.tenancy.models import LabConnection, Membership, Organization
from cuspid.tenancy.services import lab_connection_create, membership_create, organization_create
from tests.factories import make_lab, make_membership, make_organization, make_user

# --- organization_create ---------------------------------------------------------------------


def test_organization_create_makes_a_clinic(db: None) -> None:
    org = organization_create(
        kind=OrganizationKind.CLINIC,
        name="Lakeshore Dental",
        country="ca",
        region="ca-on",
        time_zone="America/Toronto",
    )
    org.refresh_from_db()
    assert org.kind == "clinic"
    assert org.is_clinic
    assert (org.country, org.region, org.time_zone) == ("CA", "CA-ON", "America/Toronto")


@pytest.mark.parametrize("time_zone", ["Mars/Olympus_Mons", "EST5EDT ", "", "america/toronto"])
def test_organization_create_rejects_unknown_time_zones(time_zone: str, db: None) -> None:
    with pytest.raises(InvalidInput):
        organization_create(
            kind=OrganizationKind.LAB,
            name="Bad Lab",
            country="CA",
            region="CA-ON",
            time_zone=time_zone,
        )
    assert not Organization.objects.exists()


def test_organization_create_rejects_unknown_kinds(db: None) -> None:
    with pytest.raises(InvalidInput):
        organization_create(
            kind="hospital",  # type: ignore[arg-type]  # what an unchecked caller might pass
            name="X",
            country="CA",
            region="CA-ON",
            time_zone="America/Toronto",
        )
    assert not Organization.objects.exists()


# --- membership_create -----------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.ORG_ADMIN, Role.CLINICIAN, Role.STAFF, Role.PATIENT])
def test_membership_create_accepts_clinic_roles(role: Role, clinic: Organization) -> None:
    membership = membership_create(user=make_user(), organization=clinic, role=role)
    assert membership.role == role
    assert membership.is_active


@pytest.mark.parametrize("role", [Role.ORG_ADMIN, Role.DESIGNER, Role.LAB_STAFF])
def test_membership_create_accepts_lab_roles(role: Role, lab: Organization) -> None:
    assert membership_create(user=make_user(), organization=lab, role=role).role == role


@pytest.mark.parametrize("role", [Role.DESIGNER, Role.LAB_STAFF])
def test_membership_create_rejects_lab_roles_in_a_clinic(role: Role, clinic: Organization) -> None:
    with pytest.raises(InvalidInput):
        membership_create(user=make_user(), organization=clinic, role=role)
    assert not Membership.objects.exists()


@pytest.mark.parametrize("role", [Role.PATIENT, Role.CLINICIAN, Role.STAFF])
def test_membership_create_rejects_clinic_roles_in_a_lab(role: Role, lab: Organization) -> None:
    with pytest.raises(InvalidInput):
        membership_create(user=make_user(), organization=lab, role=role)
    assert not Membership.objects.exists()


def test_membership_create_rejects_a_duplicate(clinic: Organization) -> None:
    user = make_user()
    membership_create(user=user, organization=clinic, role=Role.STAFF)
    with pytest.raises(InvalidInput):
        membership_create(user=user, organization=clinic, role=Role.CLINICIAN)
    assert Membership.objects.get(user=user).role == Role.STAFF


def test_membership_create_rejects_a_duplicate_of_a_deactivated_membership(
    clinic: Organization,
) -> None:
    user = make_user()
    make_membership(user=user, organization=clinic, role=Role.STAFF, is_active=False)
    with pytest.raises(InvalidInput):
        membership_create(user=user, organization=clinic, role=Role.STAFF)


def test_one_user_may_belong_to_a_clinic_and_a_lab(clinic: Organization, lab: Organization) -> None:
    user = make_user()
    membership_create(user=user, organization=clinic, role=Role.CLINICIAN)
    membership_create(user=user, organization=lab, role=Role.DESIGNER)
    assert Membership.objects.filter(user=user).count() == 2


# --- lab_connection_create -------------------------------------------------------------------


def test_lab_connection_create_joins_a_clinic_to_a_lab(
    clinic: Organization, lab: Organization
) -> None:
    connection = lab_connection_create(clinic=clinic, lab=lab)
    assert connection.status == ConnectionStatus.PENDING
    active = lab_connection_create(
        clinic=make_organization(), lab=lab, status=ConnectionStatus.ACTIVE
    )
    assert active.status == ConnectionStatus.ACTIVE


def test_lab_connection_create_rejects_clinic_to_clinic(
    clinic: Organization, other_clinic: Organization
) -> None:
    with pytest.raises(InvalidInput):
        lab_connection_create(clinic=clinic, lab=other_clinic)
    assert not LabConnection.objects.exists()


def test_lab_connection_create_rejects_reversed_ends(
    clinic: Organization, lab: Organization
) -> None:
    with pytest.raises(InvalidInput):
        lab_connection_create(clinic=lab, lab=clinic)
    with pytest.raises(InvalidInput):
        lab_connection_create(clinic=lab, lab=make_lab())
    assert not LabConnection.objects.exists()


# --- ActorMiddleware -------------------------------------------------------------------------


class _Seen:
    """What the view behind the middleware saw."""

    actor: Actor | None = None
    time_zone: str = ""
    memberships: list[Membership]


def _run(user: User | AnonymousUser, session: SessionStore) -> tuple[_Seen, str]:
    seen = _Seen()

    def view(request: HttpRequest) -> HttpResponse:
        seen.actor = request.actor  # type: ignore[attr-defined]  # set by the middleware
        seen.memberships = getattr(request, "memberships", [])
        seen.time_zone = timezone.get_current_timezone_name()
        return HttpResponse("ok")

    request = RequestFactory().get("/")
    request.user = user
    request.session = session
    ActorMiddleware(view)(request)
    return seen, timezone.get_current_timezone_name()


@pytest.fixture
def two_orgs(db: None) -> tuple[User, Membership, Membership]:
    """A user in two organisations; "Alpha" sorts first, in Vancouver; "Zulu" in New York."""
    user = make_user()
    alpha = make_membership(
        user=user,
        organization=make_organization(name="Alpha Dental", time_zone="America/Vancouver"),
        role=Role.CLINICIAN,
    )
    zulu = make_membership(
        user=user,
        organization=make_organization(name="Zulu Dental", time_zone="America/New_York"),
        role=Role.ORG_ADMIN,
    )
    return user, alpha, zulu


def test_actor_middleware_picks_the_first_membership_without_a_session_choice(
    two_orgs: tuple[User, Membership, Membership],
) -> None:
    user, alpha, _zulu = two_orgs
    session = SessionStore()
    seen, _after = _run(user, session)
    assert seen.actor is not None
    assert seen.actor.membership == alpha
    assert seen.actor.user == user
    assert seen.actor.role == Role.CLINICIAN
    assert session[ACTIVE_ORGANIZATION_SESSION_KEY] == str(alpha.organization_id)
    assert len(seen.memberships) == 2


def test_actor_middleware_keeps_the_session_choice(
    two_orgs: tuple[User, Membership, Membership],
) -> None:
    user, _alpha, zulu = two_orgs
    session = SessionStore()
    session[ACTIVE_ORGANIZATION_SESSION_KEY] = str(zulu.organization_id)
    seen, _after = _run(user, session)
    assert seen.actor is not None
    assert seen.actor.membership == zulu
    assert seen.actor.role == Role.ORG_ADMIN
    assert seen.time_zone == "America/New_York"


def test_actor_middleware_falls_back_when_the_chosen_membership_was_deactivated(
    two_orgs: tuple[User, Membership, Membership],
) -> None:
    user, alpha, zulu = two_orgs
    zulu.is_active = False
    zulu.save(update_fields=["is_active"])
    session = SessionStore()
    session[ACTIVE_ORGANIZATION_SESSION_KEY] = str(zulu.organization_id)
    seen, _after = _run(user, session)
    assert seen.actor is not None
    assert seen.actor.membership == alpha
    assert session[ACTIVE_ORGANIZATION_SESSION_KEY] == str(alpha.organization_id)
    assert [m.id for m in seen.memberships] == [alpha.id]


def test_actor_middleware_ignores_a_session_choice_of_a_foreign_organization(
    two_orgs: tuple[User, Membership, Membership], other_clinic: Organization
) -> None:
    user, alpha, _zulu = two_orgs
    session = SessionStore()
    session[ACTIVE_ORGANIZATION_SESSION_KEY] = str(other_clinic.id)
    seen, _after = _run(user, session)
    assert seen.actor is not None
    assert seen.actor.organization == alpha.organization


def test_actor_middleware_activates_the_organization_time_zone_for_the_request(
    two_orgs: tuple[User, Membership, Membership],
) -> None:
    user, _alpha, _zulu = two_orgs
    seen, after = _run(user, SessionStore())
    assert seen.time_zone == "America/Vancouver"
    assert after == "UTC"  # deactivated again once the response is built


def test_actor_middleware_falls_back_to_utc_for_an_unknown_time_zone(user: User) -> None:
    org = make_organization(time_zone="Not/A_Zone")  # written past the service, as old data might
    make_membership(user=user, organization=org, role=Role.STAFF)
    seen, _after = _run(user, SessionStore())
    assert seen.actor is not None
    assert seen.time_zone == "UTC"


def test_actor_middleware_gives_no_actor_to_a_user_without_membership(user: User) -> None:
    seen, _after = _run(user, SessionStore())
    assert seen.actor is None
    assert seen.memberships == []
    assert seen.time_zone == "UTC"


def test_actor_middleware_gives_no_actor_when_signed_out(db: None) -> None:
    session = SessionStore()
    seen, _after = _run(AnonymousUser(), session)
    assert seen.actor is None
    assert ACTIVE_ORGANIZATION_SESSION_KEY not in session
