"""Sessions (NIST 800-63B, ASVS V7): server-side, a new id at sign-in, idle 30 minutes (15 on
pages showing PHI), absolute 12 hours; "Your sessions" lists and revokes them, effective at
the revoked session's very next request. Every number is pinned with time_machine."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import time_machine
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib.messages import get_messages
from django.contrib.sessions.models import Session
from django.test import Client

from cuspid.accounts.models import User
from cuspid.accounts.services.sessions import Expiry, session_expiry
from cuspid.audit.actions import AuditAction
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Organization
from tests.accounts.sign_in_helpers import START, actions, sign_in
from tests.factories import TEST_PASSWORD, make_membership

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


@pytest.fixture
def patient(clinic: Organization) -> User:
    return make_membership(organization=clinic, role=Role.PATIENT).user


@pytest.fixture
def admin(clinic: Organization) -> User:
    return make_membership(organization=clinic, role=Role.ORG_ADMIN, mfa=True).user


def test_the_numbers() -> None:
    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"
    assert settings.CUSPID_SESSION_IDLE_SECONDS == 30 * 60
    assert settings.CUSPID_SESSION_IDLE_PHI_SECONDS == 15 * 60
    assert settings.CUSPID_SESSION_ABSOLUTE_SECONDS == 12 * 60 * 60


def test_a_session_that_recorded_no_time_has_passed_no_limit() -> None:
    assert session_expiry({}, now=START, phi=True) is None


def test_signing_in_gives_the_session_a_new_id(patient: User) -> None:
    client = Client()
    session = client.session
    session["before_sign_in"] = True
    session.save()
    before = session.session_key
    sign_in(client, patient.email)
    after = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert after != before
    assert not Session.objects.filter(session_key=before).exists()
    assert Session.objects.filter(session_key=after).exists()


def _signed_out_by_expiry(response_status: int, location: str) -> bool:
    return response_status == 302 and location.startswith("/accounts/login/")


def test_thirty_minutes_without_activity_end_the_session(patient: User) -> None:
    with time_machine.travel(START, tick=False) as traveller:
        client = Client()
        sign_in(client, patient.email)
        traveller.shift(timedelta(minutes=30) - timedelta(seconds=1))
        assert client.get("/").status_code == 200
        traveller.shift(timedelta(minutes=30))
        response = client.get("/account/sessions/")
    assert _signed_out_by_expiry(response.status_code, response["Location"])
    assert response["Location"] == "/accounts/login/?next=/account/sessions/"
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "You were signed out after 30 minutes without activity."
    ]
    expired = actions(AuditAction.Session.Expired)
    assert [(e.actor_user_id is not None, e.purpose) for e in expired] == [(True, "idle")]
    assert UserSession.objects.count() == 0
    assert client.get("/").status_code == 302  # signed out for good


def test_pages_showing_phi_allow_fifteen_minutes(admin: User) -> None:
    with time_machine.travel(START, tick=False) as traveller:
        client = Client()
        sign_in(client, admin.email, totp=True)
        traveller.shift(timedelta(minutes=15) - timedelta(seconds=1))
        assert client.get("/members/").status_code == 200  # a PHI page (memberships)
        traveller.shift(timedelta(minutes=20))
        assert client.get("/").status_code == 200  # 20 minutes is fine elsewhere
        traveller.shift(timedelta(minutes=15))
        response = client.get("/members/")
    assert response["Location"] == "/accounts/login/?next=/members/"
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "You were signed out after 15 minutes without activity."
    ]
    assert [e.purpose for e in actions(AuditAction.Session.Expired)] == ["idle_phi"]


def test_twelve_hours_after_sign_in_the_session_ends_whatever_the_activity(
    patient: User,
) -> None:
    with time_machine.travel(START, tick=False) as traveller:
        client = Client()
        sign_in(client, patient.email)
        for _ in range(12 * 6 - 1):
            traveller.shift(timedelta(minutes=10))
            assert client.get("/").status_code == 200
        # A step-up does not move the absolute limit.
        assert client.post("/account/step-up/", {"password": TEST_PASSWORD}).status_code == 302
        traveller.move_to(START + timedelta(hours=12) - timedelta(seconds=1))
        assert client.get("/").status_code == 200
        traveller.shift(timedelta(seconds=1))
        response = client.get("/")
    assert response["Location"] == "/accounts/login/?next=/"
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "You were signed out 12 hours after signing in. Sign in again."
    ]
    assert [e.purpose for e in actions(AuditAction.Session.Expired)] == [Expiry.ABSOLUTE]


def test_the_api_answers_401_when_the_session_expired(patient: User) -> None:
    with time_machine.travel(START, tick=False) as traveller:
        client = Client()
        sign_in(client, patient.email)
        traveller.shift(timedelta(minutes=31))
        response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json() == {
        "detail": "You were signed out after 30 minutes without activity.",
        "code": "session_expired",
    }


def test_a_form_post_after_expiry_goes_to_the_sign_in_page(patient: User) -> None:
    with time_machine.travel(START, tick=False) as traveller:
        client = Client()
        sign_in(client, patient.email)
        traveller.shift(timedelta(minutes=31))
        response = client.post("/account/sessions/revoke-others/")
    assert response["Location"] == "/accounts/login/?next=/"


def test_last_seen_is_written_at_most_once_a_minute(patient: User) -> None:
    with time_machine.travel(START, tick=False) as traveller:
        client = Client()
        sign_in(client, patient.email)
        row = UserSession.objects.get()
        assert row.last_seen_at == START
        traveller.shift(timedelta(seconds=59))
        client.get("/")
        row.refresh_from_db()
        assert row.last_seen_at == START
        traveller.shift(timedelta(seconds=1))
        client.get("/", REMOTE_ADDR="10.9.9.9")
        row.refresh_from_db()
        assert row.last_seen_at == START + timedelta(minutes=1)
        assert row.ip == "10.9.9.9"


def test_a_session_made_without_the_sign_in_page_is_tracked_from_its_first_request(
    patient: User, signed_in: Callable[[User], Client]
) -> None:
    client = signed_in(patient)
    with time_machine.travel(START, tick=False):
        client.get("/", HTTP_USER_AGENT=FIREFOX)
    row = UserSession.objects.get(user=patient)
    assert (row.created_at, row.last_seen_at, row.user_agent) == (START, START, FIREFOX)


# --- "Your sessions" ---------------------------------------------------------------------


def _two_sessions(user: User) -> tuple[Client, Client]:
    here = Client(HTTP_USER_AGENT=FIREFOX)
    sign_in(here, user.email, ip="10.0.0.1")
    there = Client(HTTP_USER_AGENT=SAFARI)
    sign_in(there, user.email, ip="10.0.0.2")
    return here, there


def test_the_page_lists_each_session_and_marks_this_one(patient: User) -> None:
    with time_machine.travel(START, tick=False):
        here, _there = _two_sessions(patient)
        page = here.get("/account/sessions/").content.decode()
        assert here.get("/accounts/sessions/")["Location"] == "/account/sessions/"
    assert page.count('role="rowheader"') == 2
    assert 'Firefox on Windows <span class="badge badge-active">This session</span>' in page
    assert "Safari on iOS" in page
    assert "10.0.0.2" in page
    assert "Sign out all other sessions" in page


def test_revoking_a_session_signs_it_out_at_its_next_request(patient: User) -> None:
    here, there = _two_sessions(patient)
    other = UserSession.objects.get(user_agent=SAFARI)
    response = here.post(f"/account/sessions/{other.pk}/revoke/")
    assert response["Location"] == "/account/sessions/"
    assert there.get("/").status_code == 302
    assert there.get("/api/v1/me").status_code == 401
    assert here.get("/").status_code == 200
    revoked = actions(AuditAction.Session.Revoked)
    assert [(e.actor_user_id, e.target_id) for e in revoked] == [(patient.pk, str(other.pk))]
    assert "Safari" not in here.get("/account/sessions/").content.decode()


def test_sign_out_all_other_sessions(patient: User) -> None:
    here, there = _two_sessions(patient)
    third = Client()
    sign_in(third, patient.email, ip="10.0.0.3")
    response = here.post("/account/sessions/revoke-others/")
    assert response.status_code == 302
    assert there.get("/").status_code == 302
    assert third.get("/").status_code == 302
    assert here.get("/").status_code == 200
    assert len(actions(AuditAction.Session.Revoked)) == 2
    assert UserSession.objects.filter(user=patient).count() == 1
    here.post("/account/sessions/revoke-others/")  # nothing left to sign out
    assert len(actions(AuditAction.Session.Revoked)) == 2
    assert "You are not signed in anywhere else." in here.get("/account/sessions/").content.decode()


def test_this_session_and_other_peoples_sessions_cannot_be_revoked_here(
    patient: User, clinic: Organization
) -> None:
    here, _there = _two_sessions(patient)
    mine = UserSession.objects.get(user_agent=FIREFOX)
    assert here.post(f"/account/sessions/{mine.pk}/revoke/").status_code == 422
    stranger = make_membership(organization=clinic, role=Role.PATIENT).user
    elsewhere = Client()
    sign_in(elsewhere, stranger.email)
    theirs = UserSession.objects.get(user=stranger)
    assert here.post(f"/account/sessions/{theirs.pk}/revoke/").status_code == 404
    assert elsewhere.get("/").status_code == 200
    assert actions(AuditAction.Session.Revoked) == []


def test_a_client_with_no_address_is_listed_with_a_placeholder(patient: User) -> None:
    from django.test import RequestFactory

    from cuspid.accounts.services.sessions import session_touch

    client = Client()
    with time_machine.travel(START, tick=False):
        sign_in(client, patient.email)
    request = RequestFactory().get("/", REMOTE_ADDR="")
    request.session = client.session
    request.user = patient
    UserSession.objects.all().delete()
    later = START + timedelta(minutes=1)
    with time_machine.travel(later, tick=False):
        assert session_touch(request, now=later) is True
    assert UserSession.objects.get().ip == "0.0.0.0"  # noqa: S104 -- a stored placeholder


def test_signing_out_is_audited_for_a_user_without_organisation(
    db: None, signed_in: Callable[[User], Client]
) -> None:
    from tests.factories import make_user

    operator = make_user(is_staff=True)
    client = signed_in(operator)
    assert client.post("/accounts/logout/").status_code == 302
    assert [e.actor_user_id for e in actions(AuditAction.Auth.SignedOut)] == [operator.pk]
