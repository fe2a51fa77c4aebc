"""API tokens: created and revoked by admins after step-up, shown once, stored hashed."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client

from cuspid.accounts.authtime import mark_authenticated
from cuspid.accounts.enums import TokenScope
from cuspid.accounts.models import ApiToken, User
from cuspid.accounts.selectors.tokens import TokenStatus, api_token_list_for, api_token_status
from cuspid.accounts.services.tokens import api_token_create, api_token_revoke
from cuspid.accounts.views import tokens as token_views
from cuspid.audit.actions import AuditAction
from cuspid.audit.models import AuditEvent
from cuspid.core.errors import InvalidInput, PermissionDenied, StepUpRequired
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.factories import make_membership, make_user

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PAGE = "/settings/api-tokens/"


@pytest.fixture
def frozen() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def admin(clinic: Organization) -> Membership:
    return make_membership(
        organization=clinic, role=Role.ORG_ADMIN, user=make_user(full_name="Ada Admin")
    )


def _fresh(membership: Membership) -> Actor:
    """The member's actor, fully authenticated just now."""
    return Actor.of(membership, authenticated_at=datetime.now(tz=UTC))


def _create(
    membership: Membership,
    scopes: list[str] | None = None,
    days: int = 90,
    name: str = "Practice software",
) -> tuple[ApiToken, str]:
    return api_token_create(
        actor=_fresh(membership),
        name=name,
        scopes=scopes if scopes is not None else [TokenScope.CASES_READ],
        expires_in_days=days,
    )


def _actions(since: int) -> list[str]:
    return list(
        AuditEvent.objects.filter(sequence__gt=since)
        .order_by("sequence")
        .values_list("action", flat=True)
    )


def _last_sequence() -> int:
    last = AuditEvent.objects.order_by("-sequence").first()
    return last.sequence if last is not None else 0


def _database_text() -> str:
    chunks: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 -- table names from the schema
            chunks.extend(str(row) for row in cursor.fetchall())
    return "\n".join(chunks)


def _stepped_up(client: Client) -> Client:
    session = client.session
    mark_authenticated(session)
    session.save()
    return client


# --- the service --------------------------------------------------------------------------------


def test_token_has_the_prefix_256_random_bits_and_is_stored_hashed(admin: Membership) -> None:
    before = _last_sequence()
    token, plain = _create(admin, scopes=[TokenScope.PATIENTS_READ, TokenScope.CASES_READ])
    assert plain.startswith("cspd_")
    secret = plain.removeprefix("cspd_")
    raw = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
    assert len(raw) * 8 == 256
    assert token.token_hash == hashlib.sha256(plain.encode()).hexdigest()
    assert token.hint == secret[:8]
    assert token.scopes == ["cases:read", "patients:read"]
    assert token.membership == admin
    assert token.created_by == admin.user
    assert plain not in _database_text()
    assert secret not in _database_text()
    assert _actions(before) == [AuditAction.Token.Created]
    event = AuditEvent.objects.get(sequence__gt=before)
    assert (event.target_type, event.target_id) == ("api_token", str(token.id))


def test_expiry_is_pinned_at_one_to_365_days(admin: Membership, frozen: object) -> None:
    token, _ = _create(admin, days=365)
    assert token.expires_at == START + timedelta(days=365)
    default, _ = api_token_create(actor=_fresh(admin), name="Default", scopes=["cases:read"])
    assert default.expires_at == START + timedelta(days=90)
    one, _ = _create(admin, days=1)
    assert one.expires_at == START + timedelta(days=1)
    for days in (0, -1, 366, 10_000):
        with pytest.raises(InvalidInput):
            _create(admin, days=days)


@pytest.mark.parametrize(
    ("scopes", "name"),
    [
        ([], "Name"),
        (["cases:delete"], "Name"),
        (["cases:read"], "   "),
        (["cases:read"], "x" * 101),
    ],
)
def test_bad_input_is_refused(admin: Membership, scopes: list[str], name: str) -> None:
    with pytest.raises(InvalidInput):
        _create(admin, scopes=scopes, name=name)
    assert not ApiToken.objects.exists()


def test_only_admins_may_manage_tokens(admin: Membership, member_of: MemberOf) -> None:
    clinician = member_of(admin.organization, Role.CLINICIAN)
    with pytest.raises(PermissionDenied):
        _create(clinician)
    token, _ = _create(admin)
    with pytest.raises(PermissionDenied):
        api_token_revoke(actor=_fresh(clinician), token=token)


def test_step_up_is_required_after_30_minutes(
    admin: Membership, frozen: time_machine.Traveller
) -> None:
    actor = Actor.of(admin, authenticated_at=START)
    with pytest.raises(StepUpRequired):
        api_token_create(
            actor=replace(actor, authenticated_at=None), name="T", scopes=["cases:read"]
        )
    frozen.move_to(START + timedelta(minutes=30))
    token, _ = api_token_create(actor=actor, name="T", scopes=["cases:read"])
    frozen.move_to(START + timedelta(minutes=30, seconds=1))
    with pytest.raises(StepUpRequired):
        api_token_create(actor=actor, name="T", scopes=["cases:read"])
    with pytest.raises(StepUpRequired):
        api_token_revoke(actor=actor, token=token)
    assert ApiToken.objects.count() == 1


def test_revoking_audits_once_and_is_idempotent(admin: Membership) -> None:
    token, _ = _create(admin)
    before = _last_sequence()
    revoked = api_token_revoke(actor=_fresh(admin), token=token)
    assert revoked.revoked_at is not None
    api_token_revoke(actor=_fresh(admin), token=token)
    assert _actions(before) == [AuditAction.Token.Revoked]


def test_an_admin_revokes_another_members_token_of_the_same_organization(
    admin: Membership,
) -> None:
    colleague = make_membership(organization=admin.organization, role=Role.ORG_ADMIN)
    token, _ = _create(colleague)
    api_token_revoke(actor=_fresh(admin), token=token)
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_list_covers_the_organization_with_statuses(
    admin: Membership, other_clinic: Organization, frozen: time_machine.Traveller
) -> None:
    _create(admin, name="Active")
    expiring, _ = _create(admin, name="Short", days=1)
    revoked, _ = _create(admin, name="Revoked")
    api_token_revoke(actor=_fresh(admin), token=revoked)
    inactive_member = make_membership(organization=admin.organization, role=Role.ORG_ADMIN)
    _create(inactive_member, name="Suspended")
    inactive_member.is_active = False
    inactive_member.save()
    _create(make_membership(organization=other_clinic, role=Role.ORG_ADMIN), name="Foreign")
    frozen.move_to(START + timedelta(days=1))
    rows = {row.token.name: row for row in api_token_list_for(actor=Actor.of(admin))}
    assert set(rows) == {"Active", "Short", "Revoked", "Suspended"}
    assert rows["Active"].status == TokenStatus.ACTIVE
    assert rows["Short"].status == TokenStatus.EXPIRED
    assert rows["Revoked"].status == TokenStatus.REVOKED
    assert rows["Suspended"].status == TokenStatus.SUSPENDED
    assert not rows["Revoked"].revocable
    assert rows["Active"].revocable
    assert rows["Active"].scope_labels == ["Read cases"]
    assert api_token_status(expiring, START + timedelta(days=1) - timedelta(seconds=1)) == (
        TokenStatus.ACTIVE
    )


# --- the page -----------------------------------------------------------------------------------


def test_page_has_a_helpful_empty_state_and_a_step_up_note(
    admin: Membership, signed_in: SignedIn
) -> None:
    client = signed_in(admin.user)
    body = client.get(PAGE).content.decode()
    assert "No tokens yet" in body
    assert "confirm your identity" in body
    assert "confirm your identity" not in _stepped_up(client).get(PAGE).content.decode()


def test_token_is_shown_once_after_creation(admin: Membership, signed_in: SignedIn) -> None:
    client = _stepped_up(signed_in(admin.user))
    response = client.post(
        PAGE,
        {
            "name": "Practice software",
            "scopes": ["cases:read", "patients:read"],
            "expires_in_days": "30",
        },
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get()
    body = response.content.decode()
    plain = body.split('id="new-token" type="text" readonly value="')[1].split('"')[0]
    assert plain.startswith("cspd_")
    assert token.token_hash == hashlib.sha256(plain.encode()).hexdigest()
    assert "it will not be shown again" in body
    listing = client.get(PAGE).content.decode()
    assert plain not in listing
    assert f"cspd_{token.hint}" in listing
    assert "Practice software" in listing
    assert "Ada Admin" in listing
    assert "Read patients" in listing
    assert "Never" in listing


def test_form_errors_create_nothing(admin: Membership, signed_in: SignedIn) -> None:
    client = _stepped_up(signed_in(admin.user))
    response = client.post(PAGE, {"name": "No scopes", "expires_in_days": "30"})
    assert response.status_code == 200
    assert b"field-invalid" in response.content
    assert not ApiToken.objects.exists()


def test_service_refusal_reaches_the_form(
    admin: Membership, signed_in: SignedIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The form checks what the service checks; a refusal it did not foresee is still shown.
    def refuse(**kwargs: object) -> None:
        raise InvalidInput("Refused for the test.")

    monkeypatch.setattr(token_views, "api_token_create", refuse)
    client = _stepped_up(signed_in(admin.user))
    response = client.post(
        PAGE, {"name": "Practice software", "scopes": ["cases:read"], "expires_in_days": "7"}
    )
    assert response.status_code == 200
    assert b"Refused for the test." in response.content


def test_creating_without_a_recent_sign_in_goes_to_step_up(
    admin: Membership, signed_in: SignedIn
) -> None:
    client = signed_in(admin.user)
    response = client.post(
        PAGE, {"name": "Practice software", "scopes": ["cases:read"], "expires_in_days": "30"}
    )
    assert response.status_code == 302
    assert "step-up" in response["Location"]
    assert not ApiToken.objects.exists()


def test_revoke_from_the_page(admin: Membership, signed_in: SignedIn) -> None:
    token, _ = _create(admin)
    client = _stepped_up(signed_in(admin.user))
    response = client.post(f"{PAGE}{token.id}/revoke/", follow=True)
    assert "revoked" in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_another_organizations_token_cannot_be_revoked(
    admin: Membership, other_clinic: Organization, signed_in: SignedIn
) -> None:
    token, _ = _create(admin)
    other_admin = make_membership(organization=other_clinic, role=Role.ORG_ADMIN)
    client = _stepped_up(signed_in(other_admin.user))
    assert client.post(f"{PAGE}{token.id}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert token.name not in client.get(PAGE).content.decode()


def test_non_admins_get_403(admin: Membership, member_of: MemberOf, signed_in: SignedIn) -> None:
    token, _ = _create(admin)
    client = _stepped_up(signed_in(member_of(admin.organization, Role.CLINICIAN).user))
    assert client.get(PAGE).status_code == 403
    assert client.post(f"{PAGE}{token.id}/revoke/").status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None
