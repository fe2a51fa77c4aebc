"""GET /api/v1/me and switching the active organisation."""

from __future__ import annotations

from collections.abc import Callable

from django.test import Client

from cuspid.accounts.models import User
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.factories import make_membership


def test_me_requires_sign_in(db: None) -> None:
    response = Client().get("/api/v1/me")
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication required.", "code": "not_authenticated"}


def test_switching_organization_changes_what_me_reports(
    clinic: Organization,
    other_clinic: Organization,
    member_of: Callable[[Organization, Role], Membership],
    signed_in: Callable[[User], Client],
) -> None:
    membership = member_of(clinic, Role.CLINICIAN)
    make_membership(user=membership.user, organization=other_clinic, role=Role.STAFF)
    client = signed_in(membership.user)

    first = client.get("/api/v1/me").json()
    assert {m["organization"]["id"] for m in first["memberships"]} == {
        str(clinic.id),
        str(other_clinic.id),
    }
    start = first["active_organization"]["id"]
    target = other_clinic if start == str(clinic.id) else clinic

    switched = client.put(
        "/api/v1/me/active-organization",
        {"organization_id": str(target.id)},
        content_type="application/json",
    )
    assert switched.status_code == 200
    after = client.get("/api/v1/me").json()
    assert after["active_organization"]["id"] == str(target.id)
    assert after["active_role"] == (Role.STAFF if target == other_clinic else Role.CLINICIAN)


def test_switching_to_a_foreign_organization_is_404_and_changes_nothing(
    clinic: Organization,
    other_clinic: Organization,
    member_of: Callable[[Organization, Role], Membership],
    signed_in: Callable[[User], Client],
) -> None:
    client = signed_in(member_of(clinic, Role.CLINICIAN).user)
    response = client.put(
        "/api/v1/me/active-organization",
        {"organization_id": str(other_clinic.id)},
        content_type="application/json",
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert client.get("/api/v1/me").json()["active_organization"]["id"] == str(clinic.id)
