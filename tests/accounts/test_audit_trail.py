"""Every identity event the issue lists lands in the audit trail, through the real pages, and
the chain still verifies afterwards (``manage.py audit_verify``).

One journey per account kind, driven through allauth's forms and Cuspid's pages with a frozen
clock (TOTP codes are single use, so the clock moves 30 s between codes).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.core.management import call_command
from django.test import Client, TestCase

from cuspid.accounts.enums import TokenScope
from cuspid.accounts.models import ApiToken, User
from cuspid.audit.models import AuditEvent
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Organization
from tests.accounts.sign_in_helpers import (
    START,
    WRONG,
    finish_sign_in,
    password_attempt,
    sign_in,
)
from tests.factories import TEST_PASSWORD, make_membership, totp_code

EXPECTED = {
    "auth:sign_in",
    "auth:sign_in_failed",
    "auth:throttle",
    "auth:lock",
    "auth:new_device",
    "auth:recovery_code_use",
    "auth:step_up",
    "auth:sign_out",
    "mfa:enrol",
    "mfa:remove",
    "session:revoke",
    "token:create",
    "token:revoke",
}


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def test_every_identity_event_is_audited_and_the_chain_verifies(
    clinic: Organization, clock: time_machine.Traveller
) -> None:
    admin = make_membership(organization=clinic, role=Role.ORG_ADMIN, mfa=True).user
    clinician = make_membership(organization=clinic, role=Role.CLINICIAN).user
    patient = make_membership(organization=clinic, role=Role.PATIENT, mfa=True).user

    # A wrong password, then ten more from one address: failures, then the throttle.
    for _attempt in range(11):
        password_attempt(Client(), clinician.email, WRONG, ip="10.1.1.1")
    clock.shift(timedelta(minutes=5))

    # The clinician enrols TOTP (forced), gets recovery codes, signs out (a new device).
    with TestCase.captureOnCommitCallbacks(execute=True):
        client = Client()
        sign_in(client, clinician.email, ip="10.2.2.2")
        page = client.get("/accounts/2fa/totp/activate/").content.decode()
        # The secret on the page (allauth keeps it in the session until it is confirmed).
        pending = client.session["mfa.totp.secret"]
        assert pending in page
        enrol_totp_response = client.post(
            "/accounts/2fa/totp/activate/", {"code": totp_code(pending)}, REMOTE_ADDR="10.2.2.2"
        )
        assert enrol_totp_response.status_code == 302
        codes = Authenticator.objects.get(user=clinician, type="recovery_codes")
        recovery = codes.wrap().get_unused_codes()[0]
        client.post("/accounts/logout/")

    # Back in with a recovery code (the second factor), then a step-up with the app code.
    client = Client()
    status, _body, location = password_attempt(client, clinician.email, ip="10.2.2.2")
    assert status == 302
    answered = client.post(location, {"code": recovery}, REMOTE_ADDR="10.2.2.2")
    finish_sign_in(client, answered["Location"], ip="10.2.2.2")
    clock.shift(timedelta(seconds=30))
    stepped = client.post(
        "/account/step-up/?next=/",
        {"password": TEST_PASSWORD, "code": totp_code(pending)},
        REMOTE_ADDR="10.2.2.2",
    )
    assert stepped.status_code == 302
    assert stepped["Location"] == "/"

    # A second session of the clinician, signed out from the first.
    other = Client()
    clock.shift(timedelta(seconds=30))
    _status, _body, location = password_attempt(other, clinician.email, ip="10.3.3.3")
    answered = other.post(location, {"code": totp_code(pending)}, REMOTE_ADDR="10.3.3.3")
    finish_sign_in(other, answered["Location"], ip="10.3.3.3")
    assert other.get("/").status_code == 200
    other_id = _session_row(clinician, other)
    assert client.post(f"/account/sessions/{other_id}/revoke/").status_code == 302

    # The patient removes their only factor (patients may).
    patient_client = Client()
    sign_in(patient_client, patient.email, ip="10.4.4.4", totp=True)
    with TestCase.captureOnCommitCallbacks(execute=True):
        patient_client.post("/accounts/2fa/totp/deactivate/")

    # The admin makes and revokes an API token.
    admin_client = Client()
    sign_in(admin_client, admin.email, ip="10.5.5.5", totp=True)
    admin_client.post(
        "/settings/api-tokens/",
        {"name": "Lab sync", "scopes": [TokenScope.CASES_READ], "expires_in_days": 90},
    )
    token = ApiToken.objects.get(membership__user=admin)
    admin_client.post(f"/settings/api-tokens/{token.id}/revoke/")

    # A hundred failures in a row lock the admin's account.
    User.objects.filter(pk=admin.pk).update(failed_sign_in_streak=99)
    password_attempt(Client(), admin.email, WRONG, ip="10.6.6.6")

    recorded = set(AuditEvent.objects.values_list("action", flat=True))
    assert recorded >= EXPECTED, sorted(EXPECTED - recorded)
    out = StringIO()
    call_command("audit_verify", stdout=out)
    assert out.getvalue().startswith(f"verified {AuditEvent.objects.count()} events")


def _session_row(user: User, client: Client) -> int:
    row = UserSession.objects.get(user=user, session_key=client.session.session_key)
    return int(row.pk)
