"""The identity records' small rules: the user manager, readable names without PHI."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory

from cuspid.accounts.adapter import AccountAdapter
from cuspid.accounts.models import ApiToken, Device, Invitation, User
from cuspid.accounts.views import _user
from cuspid.audit.models import AuditEvent
from cuspid.core import clock
from cuspid.core.errors import NotAuthenticated
from cuspid.tenancy.models import Membership, Organization


def test_create_user_needs_an_email(db: None) -> None:
    with pytest.raises(ValueError, match="email address"):
        User.objects.create_user("", "a long enough password")


def test_create_superuser_is_staff_and_superuser_with_a_lowercased_email(db: None) -> None:
    admin = User.objects.create_superuser("Root@Cuspid.Example", "a long enough password")
    assert (admin.email, admin.is_staff, admin.is_superuser) == ("root@cuspid.example", True, True)


def test_records_name_themselves_by_id_or_hint_never_by_email(
    clinic: Organization, user: User
) -> None:
    now = clock.now()
    invitation = Invitation.objects.create(
        organization=clinic,
        email="someone@clinic.example",
        role="staff",
        token_hash="a" * 64,
        expires_at=now + timedelta(hours=72),
    )
    device = Device.objects.create(user=user, token_hash="b" * 64, last_used_at=now)
    membership = Membership.objects.create(user=user, organization=clinic, role="clinician")
    token = ApiToken.objects.create(
        membership=membership,
        name="Lab sync",
        token_hash="c" * 64,
        hint="AbCdEfGh",
        expires_at=now + timedelta(days=90),
    )
    assert str(invitation) == f"invitation {invitation.id}"
    assert str(device) == f"device {device.id}"
    assert str(token) == "API token AbCdEfGh"
    assert "@" not in str(invitation) + str(device) + str(token)


def test_signing_out_when_already_signed_out_records_nothing(db: None) -> None:
    request = RequestFactory().post("/accounts/logout/")
    request.user = AnonymousUser()
    request.session = SessionStore()
    AccountAdapter(request).logout(request)
    assert not AuditEvent.objects.exists()


def test_the_account_pages_refuse_a_request_without_a_user() -> None:
    request = RequestFactory().get("/profile/")
    request.user = AnonymousUser()
    with pytest.raises(NotAuthenticated):
        _user(request)
