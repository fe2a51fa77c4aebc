"""The audit pages: org admins only, their organisation's events only, CSV export audited."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from unittest import mock
from uuid import UUID

import pytest
from django.test import Client

from cuspid.accounts.models import User
from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.audit.identity import AuditIdentity
from cuspid.audit.models import AuditEvent
from cuspid.audit.services import audit_emit
from cuspid.core.actors import SystemActor
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]


@pytest.fixture
def admin(member_of: MemberOf, clinic: Organization) -> Membership:
    return member_of(clinic, Role.ORG_ADMIN)


def _read(membership: Membership, patient: str = "", **fields: Any) -> AuditEvent:
    return audit_emit(
        action=AuditAction.Record.Read,
        actor=Actor.of(membership),
        subject_patient=patient or None,
        target_type="patient",
        **fields,
    )


def _body(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def _csv(response: Any) -> list[dict[str, str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_signed_out_visitors_are_sent_to_sign_in(db: None) -> None:
    for url in ("/audit/", "/audit/export.csv"):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.STAFF, Role.PATIENT])
def test_other_roles_are_forbidden(
    member_of: MemberOf, clinic: Organization, signed_in: SignedIn, role: Role
) -> None:
    client = signed_in(member_of(clinic, role).user)
    assert client.get("/audit/").status_code == 403
    assert client.get("/audit/export.csv").status_code == 403
    assert not AuditEvent.objects.filter(action=AuditAction.Audit.Exported).exists()


def test_a_user_without_organisation_gets_not_found(user: User, signed_in: SignedIn) -> None:
    assert signed_in(user).get("/audit/").status_code == 404


def test_admins_see_their_organisations_events_only(
    admin: Membership,
    member_of: MemberOf,
    clinic: Organization,
    other_clinic: Organization,
    signed_in: SignedIn,
) -> None:
    colleague = member_of(clinic, Role.CLINICIAN)
    stranger = member_of(other_clinic, Role.ORG_ADMIN)
    _read(colleague, patient="pt_ours")
    _read(stranger, patient="pt_theirs")
    audit_emit(action=AuditAction.Audit.CheckpointSigned, actor=SystemActor(reason="cron"))
    body = _body(signed_in(admin.user), "/audit/")
    assert "pt_ours" in body
    assert colleague.user.email in body
    assert "pt_theirs" not in body
    assert stranger.user.email not in body
    assert "cron" not in body
    assert 'aria-current="page"' in body
    assert "/audit/" in body


def test_times_show_in_the_organisations_time_zone(admin: Membership, signed_in: SignedIn) -> None:
    with mock.patch("cuspid.core.clock.now", return_value=datetime(2026, 7, 1, 16, 30, tzinfo=UTC)):
        _read(admin)
    assert "2026-07-01 12:30:00" in _body(signed_in(admin.user), "/audit/")  # Toronto, EDT


def test_search_filters(
    admin: Membership, member_of: MemberOf, clinic: Organization, signed_in: SignedIn
) -> None:
    colleague = member_of(clinic, Role.STAFF)
    _read(colleague, patient="pt_a")
    _read(admin, patient="pt_b", outcome=Outcome.DENIED)
    audit_emit(
        action=AuditAction.Org.Switched,
        actor=AuditIdentity(user_id=colleague.user.pk, organization_id=clinic.pk),
    )
    client = signed_in(admin.user)

    def patients(query: str) -> list[str]:
        body = _body(client, f"/audit/?{query}")
        return sorted(p for p in ("pt_a", "pt_b") if p in body)

    assert patients("") == ["pt_a", "pt_b"]
    assert patients(f"user={colleague.user.pk}") == ["pt_a"]
    assert patients(f"user={colleague.user.email.upper()}") == ["pt_a"]
    assert patients("patient=pt_b") == ["pt_b"]
    assert patients("outcome=denied") == ["pt_b"]
    assert patients("action=org:switch") == []
    assert "Switched organization" in _body(client, "/audit/?action=org:switch")
    assert patients("date_from=2000-01-01&date_to=2999-12-31") == ["pt_a", "pt_b"]
    assert patients("date_to=2000-01-01") == []
    assert "No audit events match this search." in _body(client, "/audit/?date_from=2999-01-01")


def test_an_invalid_search_shows_the_error_and_no_rows(
    admin: Membership, signed_in: SignedIn
) -> None:
    _read(admin, patient="pt_a")
    client = signed_in(admin.user)
    body = _body(client, "/audit/?user=not+a+user")
    assert "Enter a user id or an email address." in body
    assert "pt_a" not in body
    assert client.get("/audit/export.csv?outcome=bogus").status_code == 422


def test_the_table_is_paginated_by_50(admin: Membership, signed_in: SignedIn) -> None:
    for i in range(51):
        _read(admin, target_id=f"t{i}")
    client = signed_in(admin.user)
    first = _body(client, "/audit/?outcome=allowed")
    assert "Page 1 of 2" in first
    assert "page=2" in first
    assert "outcome=allowed" in first
    second = _body(client, "/audit/?outcome=allowed&page=2")
    assert "patient t0<" in second
    assert 'rel="prev"' in second


def test_the_page_makes_a_bounded_number_of_queries(
    admin: Membership,
    member_of: MemberOf,
    clinic: Organization,
    signed_in: SignedIn,
    django_assert_max_num_queries: Any,
) -> None:
    client = signed_in(admin.user)
    _body(client, "/audit/")  # the first page view stores the active organisation
    for _ in range(5):
        _read(member_of(clinic, Role.CLINICIAN))
    audit_emit(action=AuditAction.BreakGlass.Accessed, actor=AuditIdentity(user_id=UUID(int=1)))
    with django_assert_max_num_queries(7):
        _body(client, "/audit/")
    for _ in range(20):
        _read(member_of(clinic, Role.STAFF))
    with django_assert_max_num_queries(7):
        _body(client, "/audit/")


def test_the_row_describes_each_kind_of_actor(admin: Membership, signed_in: SignedIn) -> None:
    organization_id = admin.organization_id
    audit_emit(
        action=AuditAction.BreakGlass.Accessed,
        actor=AuditIdentity(user_id=UUID(int=77), organization_id=organization_id),
    )
    audit_emit(
        action=AuditAction.Audit.CheckpointSigned,
        actor=AuditIdentity(system_reason="nightly_job", organization_id=organization_id),
    )
    audit_emit(
        action=AuditAction.Auth.SignInFailed,
        actor=AuditIdentity(organization_id=organization_id),
        outcome=Outcome.DENIED,
    )
    audit_emit(
        action=AuditAction.Audit.Exported,
        actor=AuditIdentity(
            role="external_reviewer",
            system_reason="review_link:00000000-0000-0000-0000-000000000042",
            organization_id=organization_id,
        ),
    )
    body = _body(signed_in(admin.user), "/audit/")
    assert str(UUID(int=77)) in body
    assert "nightly_job" in body
    assert "Anonymous" in body
    assert "Review link holder" in body
    assert "review_link:00000000-0000-0000-0000-000000000042" in body
    assert body.count(">System<") == 1


def test_csv_export_downloads_the_filtered_rows_and_is_audited(
    admin: Membership, member_of: MemberOf, clinic: Organization, signed_in: SignedIn
) -> None:
    colleague = member_of(clinic, Role.CLINICIAN)
    _read(colleague, patient="pt_a")
    _read(colleague, patient="pt_b")
    client = signed_in(admin.user)
    client.defaults["HTTP_USER_AGENT"] = "-cmd|calc"
    response = client.get("/audit/export.csv?patient=pt_a")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    assert response.streaming
    rows = _csv(response)
    assert [r["subject_patient"] for r in rows] == ["pt_a"]
    assert rows[0]["actor_user_id"] == str(colleague.user.pk)
    assert rows[0]["hash"] == AuditEvent.objects.get(subject_patient="pt_a").hash
    exported = AuditEvent.objects.get(action=AuditAction.Audit.Exported)
    assert exported.actor_user_id == admin.user.pk
    assert exported.actor_organization_id == admin.organization_id
    assert exported.user_agent == "-cmd|calc"
    # The export's own event shows up in the next one.
    rows = _csv(client.get("/audit/export.csv"))
    assert "audit:export" in [r["action"] for r in rows]
    # A spreadsheet would run a cell starting with - as a formula.
    assert next(r["user_agent"] for r in rows if r["action"] == "audit:export") == "'-cmd|calc"


def test_the_selector_and_export_service_refuse_non_admins(
    member_of: MemberOf, clinic: Organization
) -> None:
    from cuspid.audit.selectors import AuditFilters, audit_event_list_for
    from cuspid.audit.services import audit_event_export
    from cuspid.core.errors import PermissionDenied

    actor = Actor.of(member_of(clinic, Role.CLINICIAN))
    with pytest.raises(PermissionDenied):
        audit_event_list_for(actor=actor, filters=AuditFilters())
    with pytest.raises(PermissionDenied):
        audit_event_export(actor=actor, filters=AuditFilters())
    assert not AuditEvent.objects.exists()
