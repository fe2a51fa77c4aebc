"""Passwords (NIST 800-63B §5.1.1, ASVS V6.2): at least 12 characters, 64 and up to 128
accepted, no composition rules, the common-password list and context words refused; a change
needs the current password and a recent step-up and signs out every other session; a reset
link works once, for 60 minutes."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client

from cuspid.accounts.models import User
from cuspid.accounts.passwords import context_words
from cuspid.audit.actions import AuditAction
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Organization
from tests.accounts.sign_in_helpers import START, actions, password_attempt, sign_in
from tests.factories import TEST_PASSWORD, make_membership, make_organization, make_user

NEW_PASSWORD = "violet tundra marmalade kettle"


def _codes(password: str, user: User | None = None) -> list[str]:
    try:
        validate_password(password, user=user)
    except ValidationError as error:
        return [str(e.code) for e in error.error_list]
    return []


# --- lengths, the common list, no composition rules -------------------------------------------


@pytest.mark.parametrize(
    ("length", "codes"),
    [
        (11, ["password_too_short"]),
        (12, []),
        (64, []),
        (128, []),
        (129, ["password_too_long"]),
    ],
)
def test_lengths(length: int, codes: list[str]) -> None:
    password = ("tundra7 kettle " * 10)[:length]
    assert len(password) == length
    assert _codes(password) == codes


def test_no_composition_rules_but_the_common_list_applies() -> None:
    assert _codes("lowercaseonlywords") == []
    assert _codes("password1234") == ["password_too_common"]


# --- context words ---------------------------------------------------------------------------


@pytest.fixture
def member(db: None) -> User:
    user = make_user(email="margaret.hamilton@northlight.example", full_name="Ada Lovelace Wu")
    make_membership(user=user, organization=make_organization(name="Bright Smile Dental"))
    return user


@pytest.mark.parametrize(
    "password",
    [
        "my BRIGHTsmile dental 2026 xyz",  # the organisation, case and spaces ignored
        "Bright Smile Dental forever",
        "xx margaret.hamilton yy zz",  # the email's local part
        "zz hamilton was here 42",  # a word of it
        "northlight at dawn qq",  # the email's domain name
        "lovelace in the morning",  # a full-name word of four letters or more
        "my cuspid password x",  # the service
    ],
)
def test_context_words_are_refused(member: User, password: str) -> None:
    assert _codes(password, member) == ["password_has_context_word"]


def test_short_name_words_and_the_top_level_domain_are_not_context_words(member: User) -> None:
    assert _codes("ada wu example pigeon", member) == []
    assert "example" not in context_words(member)
    assert "cuspid" in context_words(None)


def test_an_unsaved_invitee_carries_its_organisations_name(db: None) -> None:
    invitee = User(email="new@lab.example")
    invitee.password_context_words = ("Bright Lab",)  # type: ignore[attr-defined]  # set by the invitation flow
    assert _codes("brightlab forever and ever", invitee) == ["password_has_context_word"]
    assert _codes("violet tundra marmalade", invitee) == []


# --- change ----------------------------------------------------------------------------------


@pytest.fixture
def patient(clinic: Organization) -> User:
    return make_membership(organization=clinic, role=Role.PATIENT).user


def _change(client: Client, current: str, new: str = NEW_PASSWORD) -> int:
    response = client.post(
        "/accounts/password/change/",
        {"oldpassword": current, "password1": new, "password2": new},
    )
    return response.status_code


def test_a_change_needs_the_current_password_and_a_recent_step_up(patient: User) -> None:
    with time_machine.travel(START, tick=False) as traveller:
        client = Client()
        sign_in(client, patient.email)
        assert _change(client, "not my password") == 200
        patient.refresh_from_db()
        assert patient.check_password(TEST_PASSWORD)

        traveller.shift(timedelta(minutes=20))
        client.get("/")
        traveller.shift(timedelta(minutes=11))  # 31 minutes after the sign-in
        response = client.post(
            "/accounts/password/change/",
            {"oldpassword": TEST_PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
            HTTP_REFERER="http://testserver/accounts/password/change/",
        )
        assert response["Location"].startswith("/account/step-up/?next=")
        patient.refresh_from_db()
        assert patient.check_password(TEST_PASSWORD)
    assert actions(AuditAction.Auth.PasswordChanged) == []


def test_a_change_keeps_this_session_and_ends_every_other(patient: User) -> None:
    with time_machine.travel(START, tick=False):
        here, there = Client(), Client()
        sign_in(here, patient.email, ip="10.0.0.1")
        sign_in(there, patient.email, ip="10.0.0.2")
        assert _change(here, TEST_PASSWORD) == 302
        assert here.get("/").status_code == 200
        assert there.get("/").status_code == 302
        here_key = here.cookies[settings.SESSION_COOKIE_NAME].value
        assert list(
            UserSession.objects.filter(user=patient).values_list("session_key", flat=True)
        ) == [here_key]
        page = here.get("/account/sessions/").content.decode()
    assert page.count('role="rowheader"') == 1
    patient.refresh_from_db()
    assert patient.check_password(NEW_PASSWORD)
    changed = actions(AuditAction.Auth.PasswordChanged)
    assert [(e.actor_user_id, e.target_id) for e in changed] == [(patient.pk, str(patient.pk))]


def test_a_new_password_is_checked_against_the_rules(patient: User) -> None:
    with time_machine.travel(START, tick=False):
        client = Client()
        sign_in(client, patient.email)
        assert _change(client, TEST_PASSWORD, "short") == 200
        assert _change(client, TEST_PASSWORD, "the cuspid password") == 200
    patient.refresh_from_db()
    assert patient.check_password(TEST_PASSWORD)


# --- reset -----------------------------------------------------------------------------------


def _reset_link(email: str) -> str:
    Client().post("/accounts/password/reset/", {"email": email})
    assert len(mail.outbox) == 1
    found = re.search(
        r"https?://[^/\s]+(/accounts/password/reset/key/\S+/)", str(mail.outbox[0].body)
    )
    assert found is not None
    return found.group(1)


def _use(link: str, password: str = NEW_PASSWORD) -> tuple[int, str]:
    client = Client()
    response = client.get(link)
    if response.status_code != 302:
        return response.status_code, response.content.decode()
    form = client.get(response["Location"])
    assert 'name="password1"' in form.content.decode()
    done = client.post(response["Location"], {"password1": password, "password2": password})
    return done.status_code, done.get("Location", "")


def test_a_reset_link_works_for_sixty_minutes(patient: User) -> None:
    assert settings.PASSWORD_RESET_TIMEOUT == 60 * 60
    with time_machine.travel(START, tick=False) as traveller:
        link = _reset_link(patient.email)
        traveller.shift(timedelta(minutes=60, seconds=1))
        status, body = _use(link)
        assert status == 200
        assert "This link no longer works" in body
        traveller.move_to(START + timedelta(minutes=60))
        assert _use(link) == (302, "/accounts/password/reset/key/done/")
    patient.refresh_from_db()
    assert patient.check_password(NEW_PASSWORD)


def test_a_reset_link_works_once_and_ends_every_session(patient: User) -> None:
    with time_machine.travel(START, tick=False):
        signed_in_elsewhere = Client()
        sign_in(signed_in_elsewhere, patient.email)
        link = _reset_link(patient.email)
        assert _use(link)[0] == 302
        status, body = _use(link, "another good long password")
        assert "This link no longer works" in body
        assert signed_in_elsewhere.get("/").status_code == 302
        assert UserSession.objects.filter(user=patient).count() == 0
        status, _body, _ = password_attempt(Client(), patient.email, NEW_PASSWORD)
        assert status == 302
    reset = actions(AuditAction.Auth.PasswordReset)
    assert [(e.actor_user_id, e.target_id) for e in reset] == [(patient.pk, str(patient.pk))]


def test_the_change_page_sends_a_signed_out_visitor_to_sign_in(db: None) -> None:
    response = Client().get("/accounts/password/change/")
    assert response["Location"].startswith("/accounts/login/")
