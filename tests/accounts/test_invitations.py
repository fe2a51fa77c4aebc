"""Invitations: 72 hours, single use, revocable, hashed, no enumeration, and acceptance."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.db import connection
from django.test import Client
from django.urls import reverse

from cuspid.accounts.models import Invitation, User
from cuspid.accounts.secrets import secret_digest
from cuspid.accounts.selectors.invitations import (
    InvitationInvalid,
    InvitationStatus,
    invitation_pending_by_hash,
    invitation_status,
)
from cuspid.accounts.services.invitations import (
    invitable_roles,
    invitation_accept_existing,
    invitation_accept_new,
    invitation_create,
    invitation_revoke,
)
from cuspid.accounts.views import invitations as invitation_views
from cuspid.accounts.views.invitations import INVITATION_SESSION_KEY
from cuspid.audit.actions import AuditAction
from cuspid.audit.models import AuditEvent
from cuspid.audit.verify import audit_chain_verify
from cuspid.core.errors import InvalidInput, PermissionDenied
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from cuspid.web.templatetags.cuspid_access import may
from tests.factories import make_membership, make_user

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SITE = "https://cuspid.example"
NEW_EMAIL = "new.hire@clinic.example"
GOOD_PASSWORD = "quiet harbour lantern 42"
INVALID_TEXT = "This invitation is no longer valid"


@pytest.fixture
def admin(clinic: Organization) -> Membership:
    return make_membership(
        organization=clinic,
        role=Role.ORG_ADMIN,
        user=make_user(full_name="Ada Admin", email="ada@north.example"),
    )


@pytest.fixture
def frozen() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def _invite(
    admin: Membership, email: str = NEW_EMAIL, role: Role = Role.CLINICIAN
) -> tuple[Invitation, str]:
    return invitation_create(actor=Actor.of(admin), email=email, role=role, site_url=SITE)


def _actions(since: int = 0) -> list[str]:
    return list(
        AuditEvent.objects.filter(sequence__gt=since)
        .order_by("sequence")
        .values_list("action", flat=True)
    )


def _last_sequence() -> int:
    last = AuditEvent.objects.order_by("-sequence").first()
    return last.sequence if last is not None else 0


def _database_text() -> str:
    """Every row of every table, as text."""
    chunks: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 -- table names from the schema
            chunks.extend(str(row) for row in cursor.fetchall())
    return "\n".join(chunks)


def _without_csrf(content: bytes) -> str:
    """The page with its CSRF tokens (form fields and the htmx header) blanked."""
    text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", content.decode())
    return re.sub(r'"X-CSRFToken": "[^"]+"', "", text)


def _open(client: Client, token: str) -> None:
    response = client.get(f"/invitations/{token}/")
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:invitation_accept")


# --- the token ------------------------------------------------------------------------------


def test_token_is_256_random_bits_stored_only_as_its_digest(
    admin: Membership, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[attr-defined]  # a context manager
        invitation, token = _invite(admin)
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert len(raw) * 8 >= 128
    assert len(raw) == 32
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in _database_text()
    # The mail carries it (that is how it reaches the invitee), and nothing else does.
    assert token in mail.outbox[0].body


def test_tokens_differ_between_invitations(admin: Membership) -> None:
    tokens = {_invite(admin, email=f"p{n}@clinic.example")[1] for n in range(5)}
    assert len(tokens) == 5


def test_invitation_is_valid_until_72_hours_and_not_a_second_later(
    admin: Membership, frozen: time_machine.Traveller
) -> None:
    invitation, token = _invite(admin)
    assert invitation.expires_at == START + timedelta(hours=72)
    assert settings.CUSPID_INVITATION_HOURS == 72
    frozen.move_to(START + timedelta(hours=71, minutes=59))
    client = Client()
    _open(client, token)
    assert client.get("/invitations/accept/").status_code == 200
    assert invitation_pending_by_hash(token_hash=secret_digest(token)) == invitation
    frozen.move_to(START + timedelta(hours=72, seconds=1))
    client = Client()
    _open(client, token)
    response = client.get("/invitations/accept/")
    assert response.status_code == 410
    assert INVALID_TEXT in response.content.decode()
    with pytest.raises(InvitationInvalid):
        invitation_pending_by_hash(token_hash=secret_digest(token))


def test_expiry_is_exact_to_the_second(admin: Membership, frozen: time_machine.Traveller) -> None:
    invitation, _token = _invite(admin)
    assert invitation_status(invitation, START + timedelta(hours=72) - timedelta(seconds=1)) == (
        InvitationStatus.PENDING
    )
    assert invitation_status(invitation, START + timedelta(hours=72)) == InvitationStatus.EXPIRED


# --- creating ---------------------------------------------------------------------------------


def test_sending_audits_one_event_and_mails_the_invitee(
    admin: Membership,
    clinic: Organization,
    django_capture_on_commit_callbacks: Callable[..., object],
) -> None:
    before = _last_sequence()
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[attr-defined]  # a context manager
        invitation, token = _invite(admin, email="  New.Hire@Clinic.Example ")
    assert invitation.email == NEW_EMAIL
    assert invitation.role == Role.CLINICIAN
    assert invitation.invited_by == admin.user
    assert _actions(before) == [AuditAction.Invitation.Sent]
    event = AuditEvent.objects.get(sequence__gt=before)
    assert event.target_type == "invitation"
    assert event.target_id == str(invitation.id)
    assert event.actor_user_id == admin.user.id
    assert NEW_EMAIL not in str(vars(event))
    (message,) = mail.outbox
    assert message.to == [NEW_EMAIL]
    assert clinic.name in message.subject
    assert "Ada Admin" in message.subject
    assert clinic.name in message.body
    assert "Ada Admin" in message.body
    assert "Clinician" in message.body
    assert f"{SITE}/invitations/{token}/" in message.body
    assert "72 hours" in message.body
    assert "patient" not in message.body.lower()
    assert "choose your password" in message.body


def test_mail_to_an_existing_account_says_to_sign_in(
    admin: Membership, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    make_user(email=NEW_EMAIL)
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[attr-defined]  # a context manager
        _invite(admin)
    (message,) = mail.outbox
    assert "already have a Cuspid account" in message.body
    assert "sign in" in message.body


def test_nothing_is_mailed_when_the_transaction_rolls_back(
    admin: Membership, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:  # type: ignore[attr-defined]  # a context manager
        _invite(admin)
    assert len(callbacks) == 1
    assert mail.outbox == []


def test_reinviting_revokes_the_pending_invitation(admin: Membership) -> None:
    first, first_token = _invite(admin)
    second, second_token = _invite(admin, email=NEW_EMAIL.upper(), role=Role.STAFF)
    first.refresh_from_db()
    assert first.revoked_at is not None
    assert second.revoked_at is None
    with pytest.raises(InvitationInvalid):
        invitation_pending_by_hash(token_hash=secret_digest(first_token))
    assert invitation_pending_by_hash(token_hash=secret_digest(second_token)) == second


def test_reinviting_leaves_other_organizations_alone(
    admin: Membership, other_clinic: Organization
) -> None:
    other_admin = make_membership(organization=other_clinic, role=Role.ORG_ADMIN)
    theirs, _ = _invite(other_admin)
    _invite(admin)
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_only_admins_may_invite(clinic: Organization, member_of: MemberOf) -> None:
    clinician = member_of(clinic, Role.CLINICIAN)
    with pytest.raises(PermissionDenied):
        _invite(clinician)
    assert not Invitation.objects.exists()


@pytest.mark.parametrize("role", [Role.PATIENT, Role.DESIGNER, Role.LAB_STAFF, "nobody"])
def test_roles_outside_the_organization_or_patients_are_refused(
    admin: Membership, role: str
) -> None:
    with pytest.raises(InvalidInput):
        invitation_create(actor=Actor.of(admin), email=NEW_EMAIL, role=role, site_url=SITE)


def test_invitable_roles_follow_the_kind_of_organization(
    clinic: Organization, lab: Organization
) -> None:
    assert invitable_roles(clinic) == [Role.ORG_ADMIN, Role.CLINICIAN, Role.STAFF]
    assert invitable_roles(lab) == [Role.ORG_ADMIN, Role.DESIGNER, Role.LAB_STAFF]


def test_a_malformed_address_is_refused(admin: Membership) -> None:
    with pytest.raises(InvalidInput):
        _invite(admin, email="not an address")


# --- revoking ---------------------------------------------------------------------------------


def test_revoking_kills_the_link_and_audits_once(admin: Membership) -> None:
    invitation, token = _invite(admin)
    before = _last_sequence()
    invitation_revoke(actor=Actor.of(admin), invitation=invitation)
    assert _actions(before) == [AuditAction.Invitation.Revoked]
    client = Client()
    _open(client, token)
    assert client.get("/invitations/accept/").status_code == 410
    # Again: nothing changes and nothing more is recorded.
    invitation_revoke(actor=Actor.of(admin), invitation=invitation)
    assert _actions(before) == [AuditAction.Invitation.Revoked]


def test_an_accepted_invitation_cannot_be_revoked(admin: Membership) -> None:
    invitation, token = _invite(admin)
    invitation_accept_new(
        token_hash=secret_digest(token), password=GOOD_PASSWORD, full_name="New Hire"
    )
    with pytest.raises(InvalidInput):
        invitation_revoke(actor=Actor.of(admin), invitation=invitation)


def test_non_admins_may_not_revoke(admin: Membership, member_of: MemberOf) -> None:
    invitation, _ = _invite(admin)
    clinician = member_of(admin.organization, Role.CLINICIAN)
    with pytest.raises(PermissionDenied):
        invitation_revoke(actor=Actor.of(clinician), invitation=invitation)


# --- accepting (services) -----------------------------------------------------------------------


def test_accepting_creates_the_account_and_membership_once(admin: Membership) -> None:
    invitation, token = _invite(admin, role=Role.STAFF)
    before = _last_sequence()
    user = invitation_accept_new(
        token_hash=secret_digest(token), password=GOOD_PASSWORD, full_name="New Hire"
    )
    assert user.email == NEW_EMAIL
    assert user.full_name == "New Hire"
    assert user.check_password(GOOD_PASSWORD)
    membership = Membership.objects.get(user=user)
    assert membership.organization == admin.organization
    assert membership.role == Role.STAFF
    invitation.refresh_from_db()
    assert invitation.accepted_by == user
    assert invitation.accepted_at is not None
    assert _actions(before) == [AuditAction.Invitation.Accepted]
    assert AuditEvent.objects.get(sequence__gt=before).actor_user_id == user.id
    with pytest.raises(InvitationInvalid):
        invitation_accept_new(
            token_hash=secret_digest(token), password=GOOD_PASSWORD, full_name="Again"
        )
    assert User.objects.filter(email=NEW_EMAIL).count() == 1


@pytest.mark.parametrize(
    "password",
    ["short", "North Clinic rules 2026", "new.hire@clinic.example!"],
)
def test_accepting_refuses_a_weak_password_and_changes_nothing(
    admin: Membership, password: str
) -> None:
    _invitation, token = _invite(admin)
    with pytest.raises(InvalidInput):
        invitation_accept_new(token_hash=secret_digest(token), password=password, full_name="N H")
    assert not User.objects.filter(email=NEW_EMAIL).exists()


def test_accepting_new_when_the_address_has_an_account_is_refused(admin: Membership) -> None:
    _invitation, token = _invite(admin)
    make_user(email=NEW_EMAIL.upper())
    with pytest.raises(InvalidInput):
        invitation_accept_new(
            token_hash=secret_digest(token), password=GOOD_PASSWORD, full_name="N H"
        )
    assert not Membership.objects.filter(user__email__iexact=NEW_EMAIL).exists()


def test_an_existing_account_joins_without_a_duplicate(admin: Membership) -> None:
    user = make_user(email=NEW_EMAIL)
    _invitation, token = _invite(admin)
    membership, created = invitation_accept_existing(token_hash=secret_digest(token), user=user)
    assert created
    assert membership.role == Role.CLINICIAN
    _invitation2, token2 = _invite(admin, role=Role.STAFF)
    again, created_again = invitation_accept_existing(token_hash=secret_digest(token2), user=user)
    assert not created_again
    assert again == membership
    assert Membership.objects.filter(user=user).count() == 1


def test_another_account_cannot_take_the_invitation(admin: Membership) -> None:
    _invitation, token = _invite(admin)
    with pytest.raises(PermissionDenied):
        invitation_accept_existing(token_hash=secret_digest(token), user=make_user())


# --- pages: the admin ---------------------------------------------------------------------------


def test_invitation_page_lists_pending_expired_and_accepted(
    admin: Membership, signed_in: SignedIn, frozen: time_machine.Traveller
) -> None:
    _invite(admin, email="expired@clinic.example")
    frozen.move_to(START + timedelta(hours=73))
    _invite(admin, email="revoked@clinic.example")
    _invite(admin, email="revoked@clinic.example")  # the first one is revoked
    _accepted, token = _invite(admin, email="accepted@clinic.example")
    invitation_accept_new(token_hash=secret_digest(token), password=GOOD_PASSWORD, full_name="A")
    response = signed_in(admin.user).get("/members/invitations/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "expired@clinic.example" in body
    assert body.count("revoked@clinic.example") == 2  # one row (email + hidden button label)
    assert "Expired" in body
    assert "Accepted" in body
    assert "Pending" in body
    assert "Ada Admin" in body
    assert body.count(">Revoke<") == 2  # pending and expired; not accepted


def test_invitation_page_has_a_helpful_empty_state(admin: Membership, signed_in: SignedIn) -> None:
    body = signed_in(admin.user).get("/members/invitations/").content.decode()
    assert "No invitations yet" in body
    assert '<option value="clinician">' in body
    assert 'value="patient"' not in body


def test_admin_invites_from_the_page(
    admin: Membership,
    signed_in: SignedIn,
    django_capture_on_commit_callbacks: Callable[..., object],
) -> None:
    client = signed_in(admin.user)
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[attr-defined]  # a context manager
        response = client.post(
            "/members/invitations/", {"email": NEW_EMAIL, "role": "staff"}, follow=True
        )
    assert response.redirect_chain == [("/members/invitations/", 302)]
    assert "Invitation sent" in response.content.decode()
    assert Invitation.objects.get().role == Role.STAFF
    assert [m.to for m in mail.outbox] == [[NEW_EMAIL]]
    assert mail.outbox[0].body.count("/invitations/") == 1


def test_page_form_errors_are_shown(admin: Membership, signed_in: SignedIn) -> None:
    client = signed_in(admin.user)
    response = client.post("/members/invitations/", {"email": "nope", "role": "patient"})
    assert response.status_code == 200
    assert not Invitation.objects.exists()
    assert b"field-invalid" in response.content


def test_service_refusal_is_shown_on_the_form(
    admin: Membership, signed_in: SignedIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The form checks what the service checks; a refusal the form did not foresee still
    # reaches the page as a form error.
    monkeypatch.setattr(invitation_views, "invitation_create", _refuse)
    response = signed_in(admin.user).post(
        "/members/invitations/", {"email": NEW_EMAIL, "role": "staff"}
    )
    assert response.status_code == 200
    assert b"Refused for the test." in response.content


def _refuse(**kwargs: object) -> None:
    raise InvalidInput("Refused for the test.")


def test_admin_answer_is_the_same_for_existing_and_missing_accounts(
    admin: Membership, signed_in: SignedIn, frozen: time_machine.Traveller
) -> None:
    make_user(email="existing@clinic.example")
    client = signed_in(admin.user)

    def invite(email: str) -> tuple[int, str, str, str]:
        before = _last_sequence()
        response = client.post("/members/invitations/", {"email": email, "role": "clinician"})
        page = client.get(response["Location"])
        body = _without_csrf(page.content).replace(email, "EMAIL")
        invitation = Invitation.objects.get(email=email)
        body = body.replace(str(invitation.id), "ID")
        event = AuditEvent.objects.get(sequence__gt=before, action=AuditAction.Invitation.Sent)
        stored = (invitation.role, invitation.expires_at, invitation.invited_by_id, event.outcome)
        return response.status_code, response["Location"], body, str(stored)

    existing = invite("existing@clinic.example")
    Invitation.objects.all().delete()
    missing = invite("missing@clinic.example")
    assert existing == missing


def test_non_admins_get_403_on_the_admin_pages(
    admin: Membership, member_of: MemberOf, signed_in: SignedIn
) -> None:
    invitation, _ = _invite(admin)
    client = signed_in(member_of(admin.organization, Role.CLINICIAN).user)
    assert client.get("/members/invitations/").status_code == 403
    assert client.post("/members/invitations/", {"email": NEW_EMAIL}).status_code == 403
    assert client.post(f"/members/invitations/{invitation.id}/revoke/").status_code == 403
    invitation.refresh_from_db()
    assert invitation.revoked_at is None


def test_another_organizations_invitation_is_404(
    admin: Membership, other_clinic: Organization, signed_in: SignedIn
) -> None:
    invitation, _ = _invite(admin)
    other_admin = make_membership(organization=other_clinic, role=Role.ORG_ADMIN)
    client = signed_in(other_admin.user)
    assert client.post(f"/members/invitations/{invitation.id}/revoke/").status_code == 404
    invitation.refresh_from_db()
    assert invitation.revoked_at is None
    assert invitation.email not in client.get("/members/invitations/").content.decode()


def test_admin_revokes_from_the_page(admin: Membership, signed_in: SignedIn) -> None:
    invitation, _token = _invite(admin)
    client = signed_in(admin.user)
    response = client.post(f"/members/invitations/{invitation.id}/revoke/", follow=True)
    assert "Invitation revoked" in response.content.decode()
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None


def test_revoking_an_accepted_invitation_from_the_page_says_so(
    admin: Membership, signed_in: SignedIn
) -> None:
    invitation, token = _invite(admin)
    invitation_accept_new(token_hash=secret_digest(token), password=GOOD_PASSWORD, full_name="A")
    response = signed_in(admin.user).post(
        f"/members/invitations/{invitation.id}/revoke/", follow=True
    )
    assert "already accepted" in response.content.decode()


def test_member_list_links_admins_to_invitations(admin: Membership, signed_in: SignedIn) -> None:
    body = signed_in(admin.user).get("/members/").content.decode()
    assert 'href="/members/invitations/"' in body
    assert "Invite a member" in body


def test_the_may_filter_asks_the_policy(admin: Membership, member_of: MemberOf) -> None:
    assert may(Actor.of(admin), "org:manage_members")
    assert not may(Actor.of(member_of(admin.organization, Role.STAFF)), "org:manage_members")
    assert not may(None, "org:manage_members")


# --- pages: the invitee -------------------------------------------------------------------------


def test_the_link_moves_the_token_out_of_the_address(
    admin: Membership, caplog: pytest.LogCaptureFixture
) -> None:
    _invitation, token = _invite(admin)
    client = Client()
    with caplog.at_level(logging.INFO, logger="cuspid.access"):
        response = client.get(f"/invitations/{token}/")
    assert response.status_code == 302
    assert response["Location"] == "/invitations/accept/"
    assert response["Referrer-Policy"] == "no-referrer"
    assert client.session[INVITATION_SESSION_KEY] == secret_digest(token)
    logged = "\n".join(str(vars(record)) for record in caplog.records)
    assert "/invitations/[secret]/" in logged
    assert token not in logged
    page = client.get("/invitations/accept/")
    assert token not in page.content.decode()
    assert token not in _database_text()


@pytest.mark.parametrize("case", ["unknown", "expired", "used", "revoked"])
def test_every_dead_link_gets_the_same_answer(
    admin: Membership, case: str, frozen: time_machine.Traveller
) -> None:
    invitation, token = _invite(admin)
    if case == "unknown":
        token = "x" * 43
    elif case == "expired":
        frozen.move_to(START + timedelta(hours=80))
    elif case == "used":
        invitation_accept_new(
            token_hash=secret_digest(token), password=GOOD_PASSWORD, full_name="A"
        )
    else:
        invitation_revoke(actor=Actor.of(admin), invitation=invitation)
    client = Client()
    _open(client, token)
    response = client.get("/invitations/accept/")
    assert response.status_code == 410
    assert INVALID_TEXT in response.content.decode()
    assert INVITATION_SESSION_KEY not in client.session
    reference = Client().get("/invitations/accept/")
    assert reference.status_code == 410
    assert _without_csrf(response.content) == _without_csrf(reference.content)


def test_a_new_member_accepts_sets_a_password_and_goes_to_mfa(admin: Membership) -> None:
    _invitation, token = _invite(admin, role=Role.CLINICIAN)
    client = Client()
    _open(client, token)
    page = client.get("/invitations/accept/")
    body = page.content.decode()
    assert page.status_code == 200
    assert "Join North Clinic" in body
    assert "Ada Admin invited you" in body
    assert 'name="password2"' in body
    before = _last_sequence()
    response = client.post(
        "/invitations/accept/",
        {"full_name": "New Hire", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_activate_totp")
    user = User.objects.get(email=NEW_EMAIL)
    assert client.session["_auth_user_id"] == str(user.pk)
    assert INVITATION_SESSION_KEY not in client.session
    actions = _actions(before)
    assert actions.count(AuditAction.Invitation.Accepted) == 1
    assert actions.count(AuditAction.Auth.SignedIn) == 1
    assert Membership.objects.get(user=user).role == Role.CLINICIAN
    assert audit_chain_verify().ok


def test_the_new_account_form_checks_the_password(admin: Membership) -> None:
    _invitation, token = _invite(admin)
    client = Client()
    _open(client, token)
    mismatch = client.post(
        "/invitations/accept/",
        {"full_name": "New Hire", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD + "x"},
    )
    assert "do not match" in mismatch.content.decode()
    with_org_name = client.post(
        "/invitations/accept/",
        {
            "full_name": "New Hire",
            "password1": "northclinic-forever-2026",
            "password2": "northclinic-forever-2026",
        },
    )
    assert with_org_name.status_code == 200
    assert b"field-invalid" in with_org_name.content
    missing = client.post("/invitations/accept/", {"full_name": "New Hire"})
    assert missing.status_code == 200
    assert not User.objects.filter(email=NEW_EMAIL).exists()


def test_an_account_made_meanwhile_is_told_on_the_form(
    admin: Membership, monkeypatch: pytest.MonkeyPatch
) -> None:
    _invitation, token = _invite(admin)
    client = Client()
    _open(client, token)
    make_user(email=NEW_EMAIL)
    monkeypatch.setattr(invitation_views, "invitation_has_account", lambda invitation: False)
    response = client.post(
        "/invitations/accept/",
        {"full_name": "New Hire", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD},
    )
    assert response.status_code == 200
    assert b"already exists" in response.content


def test_a_link_revoked_while_the_form_is_open_fails_cleanly(
    admin: Membership, monkeypatch: pytest.MonkeyPatch
) -> None:
    invitation, token = _invite(admin)
    client = Client()
    _open(client, token)
    page_saw = invitation_pending_by_hash(token_hash=secret_digest(token))
    invitation_revoke(actor=Actor.of(admin), invitation=invitation)
    # The page read the invitation just before the revocation landed.
    monkeypatch.setattr(invitation_views, "invitation_pending_by_hash", lambda token_hash: page_saw)
    response = client.post(
        "/invitations/accept/",
        {"full_name": "New Hire", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD},
    )
    assert response.status_code == 410
    assert not User.objects.filter(email=NEW_EMAIL).exists()


def test_an_existing_account_is_asked_to_sign_in_and_comes_back(admin: Membership) -> None:
    make_user(email=NEW_EMAIL)
    _invitation, token = _invite(admin)
    client = Client()
    _open(client, token)
    body = client.get("/invitations/accept/").content.decode()
    assert "Sign in to accept" in body
    assert f'href="{reverse("account_login")}?next=%2Finvitations%2Faccept%2F"' in body
    assert 'name="password1"' not in body


def test_a_signed_in_invitee_joins_with_one_button(
    admin: Membership, lab: Organization, signed_in: SignedIn
) -> None:
    lab_member = make_membership(
        organization=lab, role=Role.DESIGNER, user=make_user(email=NEW_EMAIL)
    )
    _invitation, token = _invite(admin, role=Role.STAFF)
    client = signed_in(lab_member.user)
    _open(client, token)
    page = client.get("/invitations/accept/")
    assert "Join North Clinic as Staff" in page.content.decode()
    before = _last_sequence()
    response = client.post("/invitations/accept/", follow=True)
    assert response.redirect_chain[0] == (reverse("web:dashboard"), 302)
    assert "You joined North Clinic as Staff." in response.content.decode()
    assert _actions(before).count(AuditAction.Invitation.Accepted) == 1
    joined = Membership.objects.get(user=lab_member.user, organization=admin.organization)
    assert joined.role == Role.STAFF
    assert client.session["cuspid_active_organization"] == str(admin.organization_id)


def test_an_invitee_who_is_already_a_member_is_told_so(
    admin: Membership, signed_in: SignedIn
) -> None:
    member = make_membership(
        organization=admin.organization, role=Role.STAFF, user=make_user(email=NEW_EMAIL)
    )
    _invitation, token = _invite(admin, role=Role.CLINICIAN)
    client = signed_in(member.user)
    _open(client, token)
    response = client.post("/invitations/accept/", follow=True)
    assert "already a member of North Clinic" in response.content.decode()
    assert Membership.objects.filter(user=member.user).count() == 1


def test_someone_else_signed_in_is_told_without_the_address(
    admin: Membership, member_of: MemberOf, signed_in: SignedIn
) -> None:
    _invitation, token = _invite(admin)
    client = signed_in(member_of(admin.organization, Role.STAFF).user)
    _open(client, token)
    for response in (client.get("/invitations/accept/"), client.post("/invitations/accept/")):
        body = response.content.decode()
        assert "for another account" in body
        assert NEW_EMAIL not in body
    assert not User.objects.filter(email=NEW_EMAIL).exists()
