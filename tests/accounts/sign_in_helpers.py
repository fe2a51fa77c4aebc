"""Helpers for the throttling, session, step-up and password tests: sign in through the real
pages (allauth's forms and stages), read the audit trail."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter
from django.test import Client
from django.utils.html import escape

from cuspid.audit.models import AuditEvent
from tests.factories import TEST_PASSWORD, totp_code

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LOGIN = "/accounts/login/"
WRONG = "not the right password at all"

MISMATCH = escape(str(DefaultAccountAdapter.error_messages["email_password_mismatch"]))
TOO_MANY = escape(str(DefaultAccountAdapter.error_messages["too_many_login_attempts"]))
INCORRECT_CODE = escape(str(DefaultMFAAdapter.error_messages["incorrect_code"]))


def password_attempt(
    client: Client, email: str, password: str = TEST_PASSWORD, *, ip: str = "10.0.0.1"
) -> tuple[int, str, str]:
    """POST the sign-in form; (status, body, redirect location)."""
    response = client.post(LOGIN, {"login": email, "password": password}, REMOTE_ADDR=ip)
    return response.status_code, response.content.decode(), response.get("Location", "")


def code_attempt(client: Client, url: str, code: str, *, ip: str = "10.0.0.1") -> tuple[int, str]:
    """POST a second-factor code to the page at ``url``; (status, body)."""
    response = client.post(url, {"code": code}, REMOTE_ADDR=ip)
    return response.status_code, response.content.decode()


TRUST_PAGE = "/accounts/trust-this-browser/"


def finish_sign_in(client: Client, location: str, *, ip: str = "10.0.0.1") -> str:
    """Answer "Don't trust" when the sign-in stopped at the trust-this-browser step; returns
    where the sign-in finally redirected."""
    if location != TRUST_PAGE:
        return location
    response = client.post(TRUST_PAGE, {"action": "skip"}, REMOTE_ADDR=ip)
    assert response.status_code == 302
    return str(response["Location"])


def sign_in(client: Client, email: str, *, ip: str = "10.0.0.1", totp: bool = False) -> str:
    """Sign in through the pages (password, then the authenticator code when ``totp``, then
    "Don't trust"); returns where the sign-in redirected."""
    status, _body, location = password_attempt(client, email, ip=ip)
    assert status == 302, _body
    if totp:
        response = client.post(location, {"code": totp_code()}, REMOTE_ADDR=ip)
        assert response.status_code == 302, response.content
        location = finish_sign_in(client, response["Location"], ip=ip)
    return location


def actions(action: str) -> list[AuditEvent]:
    """The audit events with ``action``, oldest first."""
    return list(AuditEvent.objects.filter(action=action).order_by("sequence"))


_CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')
_CSRF_HEADER = re.compile(r'"X-CSRFToken": "[^"]*"')


def without_csrf(body: str) -> str:
    """``body`` with the CSRF token blanked (in the forms and in htmx's header; it differs
    on every response)."""
    body = _CSRF_FIELD.sub('name="csrfmiddlewaretoken" value=""', body)
    return _CSRF_HEADER.sub('"X-CSRFToken": ""', body)
