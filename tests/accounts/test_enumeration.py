"""No enumeration: sign-in and password-reset answers are the same — status and body, apart from
the CSRF token and the address typed — for an existing account (wrong password), a missing
account and a locked account (even with the right password)."""

from __future__ import annotations

import pytest
import time_machine
from django.core import mail
from django.test import Client

from cuspid.accounts.models import User
from cuspid.core import clock
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Organization
from tests.accounts.sign_in_helpers import (
    MISMATCH,
    START,
    TOO_MANY,
    WRONG,
    password_attempt,
    without_csrf,
)
from tests.factories import TEST_PASSWORD, make_membership

MISSING = "nobody@clinic.example"


@pytest.fixture
def existing(clinic: Organization) -> User:
    return make_membership(organization=clinic, role=Role.PATIENT).user


@pytest.fixture
def locked(clinic: Organization) -> User:
    user = make_membership(organization=clinic, role=Role.STAFF, mfa=True).user
    user.locked_at = clock.now()
    user.save(update_fields=["locked_at"])
    return user


def _normalised(body: str, email: str) -> str:
    return without_csrf(body).replace(email, "EMAIL")


def test_sign_in_answers_the_same_for_existing_missing_and_locked_accounts(
    existing: User, locked: User
) -> None:
    answers = [
        password_attempt(Client(), existing.email, WRONG),
        password_attempt(Client(), MISSING, WRONG),
        password_attempt(Client(), locked.email, TEST_PASSWORD),
        password_attempt(Client(), locked.email, WRONG),
    ]
    emails = [existing.email, MISSING, locked.email, locked.email]
    normalised = {
        (status, _normalised(body, email))
        for (status, body, _), email in zip(answers, emails, strict=True)
    }
    assert len(normalised) == 1
    status, body = normalised.pop()
    assert status == 200
    assert MISMATCH in body


def test_a_throttled_sign_in_answers_the_same_for_existing_and_missing_accounts(
    existing: User,
) -> None:
    with time_machine.travel(START, tick=False):
        bodies: list[tuple[int, str]] = []
        for email in (existing.email, MISSING):
            for attempt in range(10):
                password_attempt(Client(), email, WRONG, ip=f"10.7.{len(bodies)}.{attempt}")
            status, body, _ = password_attempt(Client(), email, WRONG, ip="10.7.9.9")
            bodies.append((status, _normalised(body, email)))
    assert bodies[0] == bodies[1]
    assert TOO_MANY in bodies[0][1]


def _reset(email: str) -> tuple[int, str, int, str]:
    client = Client()
    response = client.post("/accounts/password/reset/", {"email": email})
    done = client.get(response["Location"])
    return (
        response.status_code,
        response["Location"],
        done.status_code,
        without_csrf(done.content.decode()),
    )


def test_reset_answers_the_same_and_mails_only_real_accounts(existing: User, locked: User) -> None:
    answers = {_reset(email) for email in (existing.email, MISSING, locked.email)}
    assert len(answers) == 1
    status, location, done_status, _body = answers.pop()
    assert (status, location, done_status) == (302, "/accounts/password/reset/done/", 200)
    assert sorted(message.to[0] for message in mail.outbox) == sorted(
        [existing.email, locked.email]
    )


def test_there_is_no_open_sign_up(db: None) -> None:
    response = Client().get("/accounts/signup/")
    assert b'name="password1"' not in response.content
