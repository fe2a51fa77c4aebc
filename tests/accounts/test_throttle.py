"""Throttles (NIST 800-63B §3.2.2, DESIGN.md "Numbers"): 10 failed passwords per 5 minutes per
account and per IP; 5 wrong second factors per 5 minutes and 20 per hour per account; a hard
lock after 100 failures in a row, lifted by an org admin or the platform operator. Every
refusal is audited. The clock is time_machine's; allauth's limiter reads the same clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client

from cuspid.accounts.models import User
from cuspid.accounts.services import security
from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.core import clock
from cuspid.core.errors import NotFound, PermissionDenied
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.accounts.sign_in_helpers import (
    INCORRECT_CODE,
    MISMATCH,
    START,
    TOO_MANY,
    WRONG,
    actions,
    code_attempt,
    finish_sign_in,
    password_attempt,
)
from tests.factories import make_membership, make_user, totp_code

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]


@pytest.fixture
def patient(clinic: Organization) -> User:
    """An account with no second factor (patients are not forced to have one)."""
    return make_membership(organization=clinic, role=Role.PATIENT).user


@pytest.fixture
def clinician(clinic: Organization) -> User:
    return make_membership(organization=clinic, role=Role.CLINICIAN, mfa=True).user


# --- failed passwords: 10 per 5 minutes per account ---------------------------------------


def test_the_tenth_failure_is_checked_and_the_eleventh_attempt_refused_per_account(
    patient: User,
) -> None:
    with time_machine.travel(START, tick=False) as traveller:
        for attempt in range(10):
            # A new IP each time: only the per-account limit is in play.
            status, body, _ = password_attempt(
                Client(), patient.email, WRONG, ip=f"10.1.0.{attempt}"
            )
            assert (status, MISMATCH in body) == (200, True), attempt
        status, body, _ = password_attempt(Client(), patient.email, ip="10.1.0.99")
        assert status == 200
        assert TOO_MANY in body
        assert MISMATCH not in body
        throttled = actions(AuditAction.Auth.Throttled)
        assert len(throttled) == 1
        assert throttled[0].outcome == Outcome.DENIED
        assert throttled[0].actor_user_id is None
        assert throttled[0].target_id == str(patient.pk)
        assert throttled[0].purpose == "password"

        traveller.shift(timedelta(minutes=5) - timedelta(seconds=1))
        status, body, _ = password_attempt(Client(), patient.email, ip="10.1.0.98")
        assert TOO_MANY in body
        traveller.shift(timedelta(seconds=1))
        status, _body, _ = password_attempt(Client(), patient.email, ip="10.1.0.97")
        assert status == 302  # the window has passed: the right password works again
    assert len(actions(AuditAction.Auth.Throttled)) == 2


def test_a_missing_account_is_throttled_the_same_way(db: None) -> None:
    with time_machine.travel(START, tick=False):
        for attempt in range(10):
            password_attempt(Client(), "nobody@clinic.example", WRONG, ip=f"10.2.0.{attempt}")
        status, body, _ = password_attempt(Client(), "nobody@clinic.example", ip="10.2.0.99")
    assert (status, TOO_MANY in body) == (200, True)
    throttled = actions(AuditAction.Auth.Throttled)
    assert [(e.actor_user_id, e.target_id) for e in throttled] == [(None, "")]


# --- failed passwords: 10 per 5 minutes per IP ---------------------------------------------


def test_ten_failures_from_one_ip_refuse_the_eleventh_attempt_from_it(patient: User) -> None:
    with time_machine.travel(START, tick=False) as traveller:
        for attempt in range(10):
            status, body, _ = password_attempt(
                Client(), f"guess{attempt}@clinic.example", WRONG, ip="10.3.0.1"
            )
            assert MISMATCH in body, attempt
        # The 11th from that IP is refused even for another account with the right password.
        status, body, _ = password_attempt(Client(), patient.email, ip="10.3.0.1")
        assert (status, TOO_MANY in body) == (200, True)
        # Another IP is not affected.
        status, _body, _ = password_attempt(Client(), patient.email, ip="10.3.0.2")
        assert status == 302
        traveller.shift(timedelta(minutes=5))
        status, _body, _ = password_attempt(Client(), patient.email, ip="10.3.0.1")
        assert status == 302
    assert len(actions(AuditAction.Auth.Throttled)) == 1


# --- second factor: 5 per 5 minutes, 20 per hour per account ------------------------------


def _at_code_page(client: Client, user: User, ip: str) -> str:
    status, body, location = password_attempt(client, user.email, ip=ip)
    assert status == 302, body
    assert "authenticate" in location
    return location


def test_five_wrong_codes_refuse_even_the_right_code_until_five_minutes_pass(
    clinician: User,
) -> None:
    with time_machine.travel(START, tick=False) as traveller:
        client = Client()
        url = _at_code_page(client, clinician, "10.4.0.1")
        for attempt in range(5):
            status, body = code_attempt(client, url, "000000", ip="10.4.0.1")
            assert (status, INCORRECT_CODE in body) == (200, True), attempt
        status, body = code_attempt(client, url, totp_code(), ip="10.4.0.1")
        assert (status, TOO_MANY in body) == (200, True)

        failed = actions(AuditAction.Auth.SecondFactorFailed)
        assert len(failed) == 5
        assert {e.actor_user_id for e in failed} == {clinician.pk}
        throttled = actions(AuditAction.Auth.Throttled)
        assert [(e.actor_user_id, e.purpose) for e in throttled] == [
            (clinician.pk, "second_factor")
        ]

        traveller.shift(timedelta(minutes=5))
        client = Client()
        url = _at_code_page(client, clinician, "10.4.0.1")
        response = client.post(url, {"code": totp_code()}, REMOTE_ADDR="10.4.0.1")
        assert response.status_code == 302
        assert finish_sign_in(client, response["Location"], ip="10.4.0.1") == "/"
    clinician.refresh_from_db()
    assert clinician.failed_sign_in_streak == 0  # the completed sign-in reset it


def test_twenty_wrong_codes_in_an_hour_refuse_until_the_hour_passes(clinician: User) -> None:
    with time_machine.travel(START, tick=False) as traveller:
        for window in range(4):
            client = Client()
            url = _at_code_page(client, clinician, "10.5.0.1")
            for _attempt in range(5):
                status, body = code_attempt(client, url, "000000", ip="10.5.0.1")
                assert INCORRECT_CODE in body, window
            traveller.shift(timedelta(minutes=5))
        # 20 wrong codes within 20 minutes: the 5-minute window has passed, the hour has not.
        client = Client()
        url = _at_code_page(client, clinician, "10.5.0.1")
        status, body = code_attempt(client, url, totp_code(), ip="10.5.0.1")
        assert TOO_MANY in body
        # One hour after the first wrong code it is counted no more.
        traveller.move_to(START + timedelta(hours=1))
        client = Client()
        url = _at_code_page(client, clinician, "10.5.0.1")
        status, _body = code_attempt(client, url, totp_code(), ip="10.5.0.1")
        assert status == 302
    assert len(actions(AuditAction.Auth.SecondFactorFailed)) == 20


# --- the hard lock ----------------------------------------------------------------------------


def test_the_account_locks_at_exactly_the_hundredth_failure_in_a_row(
    patient: User, django_capture_on_commit_callbacks: Any
) -> None:
    assert settings.CUSPID_HARD_LOCK_AFTER == 100
    request = Client().get("/").wsgi_request
    for _ in range(99):
        security.sign_in_failed(request=request, email=patient.email.upper())
    patient.refresh_from_db()
    assert (patient.failed_sign_in_streak, patient.locked_at) == (99, None)
    assert actions(AuditAction.Auth.Locked) == []

    with (
        time_machine.travel(START, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        security.sign_in_failed(request=request, email=patient.email)
    patient.refresh_from_db()
    assert patient.failed_sign_in_streak == 100
    assert patient.locked_at == START
    locked = actions(AuditAction.Auth.Locked)
    assert len(locked) == 1
    assert locked[0].target_id == str(patient.pk)
    assert locked[0].outcome == Outcome.DENIED
    # The user is told (on commit), with no health information and no address of anyone else.
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [patient.email]
    assert "locked" in mail.outbox[0].subject
    assert "administrator" in mail.outbox[0].body

    security.sign_in_failed(request=request, email=patient.email)
    assert len(actions(AuditAction.Auth.Locked)) == 1  # locked once


def test_a_success_resets_the_streak(patient: User) -> None:
    patient.failed_sign_in_streak = 99
    patient.save(update_fields=["failed_sign_in_streak"])
    status, _body, _ = password_attempt(Client(), patient.email)
    assert status == 302
    patient.refresh_from_db()
    assert patient.failed_sign_in_streak == 0


def test_wrong_codes_count_in_the_streak_and_can_lock(clinician: User) -> None:
    clinician.failed_sign_in_streak = 99
    clinician.save(update_fields=["failed_sign_in_streak"])
    client = Client()
    url = _at_code_page(client, clinician, "10.6.0.1")
    status, body = code_attempt(client, url, "000000", ip="10.6.0.1")
    assert INCORRECT_CODE in body
    clinician.refresh_from_db()
    assert clinician.locked_at is not None
    # Locked: even the right code is refused now.
    status, body = code_attempt(client, url, totp_code(), ip="10.6.0.1")
    assert (status, TOO_MANY in body) == (200, True)


def test_a_locked_account_is_refused_like_a_wrong_password(patient: User) -> None:
    patient.locked_at = clock.now()
    patient.save(update_fields=["locked_at"])
    status, body, _ = password_attempt(Client(), patient.email)
    assert (status, MISMATCH in body) == (200, True)
    failed = actions(AuditAction.Auth.SignInFailed)
    assert [e.target_id for e in failed] == [str(patient.pk)]
    assert actions(AuditAction.Auth.SignedIn) == []


def test_a_locked_account_cannot_finish_a_passwordless_sign_in(patient: User) -> None:
    from allauth.account.adapter import get_adapter

    patient.locked_at = clock.now()
    patient.save(update_fields=["locked_at"])
    client = Client()
    request = client.get("/accounts/login/").wsgi_request
    response = get_adapter(request).pre_login(
        request,
        patient,
        email_verification="none",
        signal_kwargs=None,
        email=None,
        signup=False,
        redirect_url=None,
    )
    assert response is not None
    assert response["Location"] == "/accounts/login/"
    assert [e.target_id for e in actions(AuditAction.Auth.SignInFailed)] == [str(patient.pk)]


# --- unlock ---------------------------------------------------------------------------------


def _locked_member(clinic: Organization) -> Membership:
    membership = make_membership(organization=clinic, role=Role.STAFF)
    membership.user.locked_at = clock.now()
    membership.user.failed_sign_in_streak = 100
    membership.user.save(update_fields=["locked_at", "failed_sign_in_streak"])
    return membership


def test_an_org_admin_unlocks_a_member_from_the_member_page(
    clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    locked = _locked_member(clinic)
    admin = member_of(clinic, Role.ORG_ADMIN)
    client = signed_in(admin.user)
    page = client.get(f"/members/{locked.pk}/").content.decode()
    assert "Unlock sign-in" in page
    assert f'action="/members/{locked.pk}/unlock/"' in page

    response = client.post(f"/members/{locked.pk}/unlock/")
    assert response.status_code == 302
    assert response["Location"] == f"/members/{locked.pk}/"
    locked.user.refresh_from_db()
    assert (locked.user.locked_at, locked.user.failed_sign_in_streak) == (None, 0)
    unlocked = actions(AuditAction.Auth.Unlocked)
    assert [(e.actor_user_id, e.target_id) for e in unlocked] == [
        (admin.user.pk, str(locked.user.pk))
    ]
    assert "Unlock sign-in" not in client.get(f"/members/{locked.pk}/").content.decode()
    status, _body, _ = password_attempt(Client(), locked.user.email)
    assert status == 302


def test_a_clinician_sees_no_unlock_button_and_may_not_unlock(
    clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    locked = _locked_member(clinic)
    client = signed_in(member_of(clinic, Role.CLINICIAN).user)
    page = client.get(f"/members/{locked.pk}/")
    if page.status_code == 200:
        assert "Unlock sign-in" not in page.content.decode()
    assert client.post(f"/members/{locked.pk}/unlock/").status_code == 403
    locked.user.refresh_from_db()
    assert locked.user.locked_at is not None


def test_an_admin_of_another_organisation_gets_404(
    clinic: Organization, other_clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    locked = _locked_member(clinic)
    client = signed_in(member_of(other_clinic, Role.ORG_ADMIN).user)
    assert client.post(f"/members/{locked.pk}/unlock/").status_code == 404
    locked.user.refresh_from_db()
    assert locked.user.locked_at is not None


def test_the_unlock_service_checks_organisation_and_permission(
    clinic: Organization, other_clinic: Organization, member_of: MemberOf
) -> None:
    locked = _locked_member(clinic)
    foreign_admin = Actor.of(member_of(other_clinic, Role.ORG_ADMIN))
    with pytest.raises(NotFound):
        security.user_unlock(actor=foreign_admin, membership=locked)
    clinician = Actor.of(member_of(clinic, Role.CLINICIAN))
    with pytest.raises(PermissionDenied):
        security.user_unlock(actor=clinician, membership=locked)


def test_the_unlock_page_needs_a_member(clinic: Organization, signed_in: SignedIn) -> None:
    locked = _locked_member(clinic)
    operator = make_user(is_staff=True)
    assert signed_in(operator).post(f"/members/{locked.pk}/unlock/").status_code == 404
    assert Client().post(f"/members/{locked.pk}/unlock/").status_code == 302


def test_the_operator_unlocks_with_the_command(clinic: Organization) -> None:
    locked = _locked_member(clinic)
    out = StringIO()
    call_command("account_unlock", locked.user.email.upper(), stdout=out)
    assert "Unlocked" in out.getvalue()
    locked.user.refresh_from_db()
    assert (locked.user.locked_at, locked.user.failed_sign_in_streak) == (None, 0)
    event = actions(AuditAction.Auth.Unlocked)[0]
    assert (event.actor_role, event.system_reason) == ("system", "operator_account_unlock")

    call_command("account_unlock", locked.user.email, stdout=out)
    assert "was not locked" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("account_unlock", "nobody@clinic.example")


def test_allauths_own_limit_on_codes_per_ip_is_audited_too(clinician: User) -> None:
    """allauth also counts codes against its per-IP ``login_failed`` limit (10 per 5 minutes,
    shared with passwords): once that refuses, the refusal is audited as a throttle."""
    # A second between attempts: allauth rolls a successful password back by its timestamp.
    with time_machine.travel(START, tick=False) as traveller:
        for attempt in range(9):
            password_attempt(Client(), f"guess{attempt}@clinic.example", WRONG, ip="10.8.0.1")
            traveller.shift(timedelta(seconds=1))
        client = Client()
        url = _at_code_page(client, clinician, "10.8.0.1")
        status, body = code_attempt(client, url, "000000", ip="10.8.0.1")
        assert INCORRECT_CODE in body
        status, body = code_attempt(client, url, totp_code(), ip="10.8.0.1")
    assert status == 200, status
    assert TOO_MANY in body
    assert len(actions(AuditAction.Auth.SecondFactorFailed)) == 1
    assert [e.purpose for e in actions(AuditAction.Auth.Throttled)] == ["second_factor"]


def test_an_operator_without_organisation_is_locked_under_their_own_id(db: None) -> None:
    operator = make_user(is_staff=True)
    operator.failed_sign_in_streak = 99
    operator.save(update_fields=["failed_sign_in_streak"])
    request = Client().get("/").wsgi_request
    security.sign_in_failed(request=request, email="")  # nothing typed: nobody to count
    security.sign_in_failed(request=request, email=operator.email)
    event = actions(AuditAction.Auth.Locked)[0]
    assert (event.actor_user_id, event.actor_organization_id) == (operator.pk, None)
    assert [e.target_id for e in actions(AuditAction.Auth.SignInFailed)] == ["", str(operator.pk)]
