"""Trusted devices and the "new sign-in" mail: the device cookie, 30 days of trust that skip
only the second factor, revocation (one or all, after a step-up), and the devices pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.contrib.auth.models import AnonymousUser
from django.core import mail
from django.http import HttpResponse
from django.test import Client, RequestFactory, TestCase

from cuspid.accounts.models import Device, User
from cuspid.accounts.secrets import secret_digest
from cuspid.accounts.selectors.devices import browser_label, device_is_trusted
from cuspid.accounts.services import devices
from cuspid.accounts.services.devices import DEVICE_COOKIE, device_cookie_set, login_stages
from cuspid.accounts.views.devices import account_actor
from cuspid.audit.models import AuditEvent
from cuspid.core.errors import NotAuthenticated
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Organization
from tests.factories import TEST_PASSWORD, make_membership, make_user, totp_code

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LOGIN = "/accounts/login/"
AUTHENTICATE = "/accounts/2fa/authenticate/"
TRUST = "/accounts/trust-this-browser/"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"


def _sign_in(client: Client, user: User, *, trust: bool = False) -> list[str]:
    """Sign in through the pages; the addresses the steps redirected to, in order. Work
    deferred to the commit (the new-device mail) runs, as it would outside the test."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return _steps(client, user, trust=trust)


def _steps(client: Client, user: User, *, trust: bool) -> list[str]:
    hops = []
    response = client.post(LOGIN, {"login": user.email, "password": TEST_PASSWORD})
    hops.append(response["Location"])
    if response["Location"] == AUTHENTICATE:
        response = client.post(AUTHENTICATE, {"code": totp_code()})
        hops.append(response["Location"])
        if response["Location"] == TRUST:
            response = client.post(TRUST, {"action": "trust" if trust else "skip"})
            hops.append(response["Location"])
    return hops


def _client() -> Client:
    return Client(HTTP_USER_AGENT=FIREFOX, REMOTE_ADDR="198.51.100.23")


@pytest.fixture
def clinician(clinic: Organization) -> User:
    return make_membership(organization=clinic, role=Role.CLINICIAN, mfa=True).user


def _actions(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("sequence"))


# --- the device cookie and the new-device mail ------------------------------------------------


def test_a_first_sign_in_sets_the_device_cookie_and_records_the_browser(clinician: User) -> None:
    client = _client()
    with time_machine.travel(START, tick=False):
        hops = _sign_in(client, clinician)
    assert hops == [AUTHENTICATE, TRUST, "/"]
    cookie = client.cookies[DEVICE_COOKIE]
    assert len(cookie.value) >= 43  # 256 bits, URL-safe
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) == 400 * 24 * 3600
    device = Device.objects.get(user=clinician)
    assert device.token_hash == secret_digest(cookie.value)
    assert cookie.value not in device.token_hash
    assert (device.ip_address, device.user_agent, device.last_used_at) == (
        "198.51.100.23",
        FIREFOX,
        START,
    )
    assert device.trusted_until is None
    [event] = _actions("auth:new_device")
    assert (event.target_type, event.target_id) == ("device", str(device.pk))
    assert event.actor_user_id == clinician.pk


def test_the_new_sign_in_mail_is_sent_once_per_browser_and_holds_no_health_information(
    clinician: User, clinic: Organization
) -> None:
    client = _client()
    with time_machine.travel(START, tick=False):
        _sign_in(client, clinician)
    [message] = mail.outbox
    assert message.to == [clinician.email]
    assert message.subject == "[Cuspid] New sign-in to your account"
    assert "2026-03-02 09:00 UTC" in message.body
    assert "Firefox on Windows" in message.body
    assert "198.51.100.23" in message.body
    assert "http://testserver/account/security/devices/" in message.body
    for private in (clinic.name, clinician.full_name, "patient", "case", "Clinician"):
        assert private not in message.body
        assert private not in message.subject

    # The same browser again: known, no mail; its last use moves on.
    client.post("/accounts/logout/")
    with time_machine.travel(START + timedelta(days=2), tick=False):
        _sign_in(client, clinician)
    assert len(mail.outbox) == 1
    device = Device.objects.get(user=clinician)
    assert device.last_used_at == START + timedelta(days=2)
    assert len(_actions("auth:new_device")) == 1

    # Another browser: a second device, a second mail.
    with time_machine.travel(START + timedelta(days=3), tick=False):
        _sign_in(_client(), clinician)
    assert len(mail.outbox) == 2
    assert Device.objects.filter(user=clinician).count() == 2


def test_two_people_on_one_browser_each_get_their_own_device(clinic: Organization) -> None:
    patient = make_membership(organization=clinic, role=Role.PATIENT).user
    other = make_membership(organization=clinic, role=Role.PATIENT).user
    client = _client()
    assert _sign_in(client, patient) == ["/"]  # no second factor: no trust question either
    cookie = client.cookies[DEVICE_COOKIE].value
    client.post("/accounts/logout/")
    _sign_in(client, other)
    assert client.cookies[DEVICE_COOKIE].value == cookie
    assert Device.objects.filter(token_hash=secret_digest(cookie)).count() == 2
    assert len(mail.outbox) == 2


def test_the_cookie_is_secure_when_the_session_cookie_is(
    settings: object, rf: RequestFactory
) -> None:
    settings.SESSION_COOKIE_SECURE = True  # type: ignore[attr-defined]  # pytest-django settings
    request = rf.get("/")
    response = HttpResponse()
    device_cookie_set(request, response)
    assert DEVICE_COOKIE not in response.cookies  # nothing chosen in this request
    setattr(request, devices.PENDING_COOKIE_ATTR, "value")
    device_cookie_set(request, response)
    assert response.cookies[DEVICE_COOKIE]["secure"] is True


# --- trust: 30 days, second factor only ---------------------------------------------------------


def test_a_trusted_browser_skips_the_second_factor_for_30_days_then_asks_again(
    clinician: User,
) -> None:
    client = _client()
    with time_machine.travel(START, tick=False):
        assert _sign_in(client, clinician, trust=True) == [AUTHENTICATE, TRUST, "/"]
    device = Device.objects.get(user=clinician)
    assert device.trusted_until == START + timedelta(days=30)
    [event] = _actions("device:trust")
    assert event.target_id == str(device.pk)

    client.post("/accounts/logout/")
    with time_machine.travel(START + timedelta(days=29, hours=23), tick=False):
        assert _sign_in(client, clinician) == ["/"]
        assert client.get("/").status_code == 200
    client.post("/accounts/logout/")
    with time_machine.travel(START + timedelta(days=30), tick=False):
        assert _sign_in(client, clinician) == [AUTHENTICATE, TRUST, "/"]


def test_trust_never_skips_the_password(clinician: User) -> None:
    client = _client()
    with time_machine.travel(START, tick=False):
        _sign_in(client, clinician, trust=True)
        client.post("/accounts/logout/")
        response = client.post(LOGIN, {"login": clinician.email, "password": "wrong password!"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_trust_is_per_browser(clinician: User) -> None:
    with time_machine.travel(START, tick=False):
        _sign_in(_client(), clinician, trust=True)
    with time_machine.travel(START + timedelta(minutes=1), tick=False):
        assert _sign_in(_client(), clinician)[0] == AUTHENTICATE


def test_the_trust_page_needs_a_sign_in_in_progress(db: None) -> None:
    response = Client().get(TRUST)
    assert response.status_code == 302
    assert response["Location"] == LOGIN


def test_the_trust_page_explains_what_trust_means(clinician: User) -> None:
    client = _client()
    client.post(LOGIN, {"login": clinician.email, "password": TEST_PASSWORD})
    client.post(AUTHENTICATE, {"code": totp_code()})
    body = client.get(TRUST).content.decode()
    assert "Trust this browser for 30 days" in body
    assert "Your password is still needed." in body


# --- revoking trust ------------------------------------------------------------------------


def test_revoking_one_browser_takes_effect_at_its_next_sign_in(clinician: User) -> None:
    laptop, phone = _client(), _client()
    with time_machine.travel(START, tick=False):
        _sign_in(laptop, clinician, trust=True)
    with time_machine.travel(START + timedelta(minutes=1), tick=False):
        _sign_in(phone, clinician, trust=True)
    laptop_device = Device.objects.get(
        token_hash=secret_digest(laptop.cookies[DEVICE_COOKIE].value)
    )
    with time_machine.travel(START + timedelta(minutes=2), tick=False):
        response = phone.post(f"/account/security/devices/{laptop_device.pk}/revoke/")
    assert response.status_code == 302
    assert response["Location"] == "/account/security/devices/"
    laptop_device.refresh_from_db()
    assert laptop_device.trusted_until is None
    [event] = _actions("device:revoke")
    assert event.target_id == str(laptop_device.pk)
    laptop.post("/accounts/logout/")
    phone.post("/accounts/logout/")
    with time_machine.travel(START + timedelta(minutes=3), tick=False):
        assert _sign_in(laptop, clinician)[0] == AUTHENTICATE
    with time_machine.travel(START + timedelta(minutes=4), tick=False):
        assert _sign_in(phone, clinician) == ["/"]


def test_revoking_all_ends_trust_everywhere(clinician: User) -> None:
    laptop, phone = _client(), _client()
    with time_machine.travel(START, tick=False):
        _sign_in(laptop, clinician, trust=True)
    with time_machine.travel(START + timedelta(minutes=1), tick=False):
        _sign_in(phone, clinician, trust=True)
        response = phone.post("/account/security/devices/revoke-all/")
    assert response.status_code == 302
    assert not Device.objects.filter(trusted_until__isnull=False).exists()
    assert len(_actions("device:revoke")) == 2
    for n, client in enumerate((laptop, phone), start=2):
        client.post("/accounts/logout/")
        with time_machine.travel(START + timedelta(minutes=n), tick=False):
            assert _sign_in(client, clinician)[0] == AUTHENTICATE
    # Nothing left to revoke: no event, a plain note.
    with time_machine.travel(START + timedelta(minutes=5), tick=False):
        response = phone.post("/account/security/devices/revoke-all/", follow=True)
    assert "No browser was trusted." in response.content.decode()
    assert len(_actions("device:revoke")) == 2


def test_revoking_needs_a_recent_authentication(clinician: User) -> None:
    client = _client()
    with time_machine.travel(START, tick=False):
        _sign_in(client, clinician, trust=True)
    device = Device.objects.get(user=clinician)
    with time_machine.travel(START + timedelta(minutes=20), tick=False):
        assert client.get("/").status_code == 200  # still active (idle limit is 30 min)
    with time_machine.travel(START + timedelta(minutes=31), tick=False):
        one = client.post(f"/account/security/devices/{device.pk}/revoke/")
        every = client.post("/account/security/devices/revoke-all/")
    for response in (one, every):
        assert response.status_code == 302
        assert response["Location"].startswith("/account/step-up/")
    device.refresh_from_db()
    assert device.trusted_until == START + timedelta(days=30)
    assert not _actions("device:revoke")


def test_another_users_device_is_not_found(clinician: User, clinic: Organization) -> None:
    other = make_membership(organization=clinic, role=Role.STAFF, mfa=True).user
    with time_machine.travel(START, tick=False):
        _sign_in(_client(), other, trust=True)
        client = _client()
        _sign_in(client, clinician)
        foreign = Device.objects.get(user=other)
        response = client.post(f"/account/security/devices/{foreign.pk}/revoke/")
    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.trusted_until is not None


def test_an_operator_without_organisation_revokes_their_own_trust(db: None) -> None:
    operator = make_user(is_staff=True, mfa=True)
    client = _client()
    with time_machine.travel(START, tick=False):
        _sign_in(client, operator, trust=True)
        client.post("/account/security/devices/revoke-all/")
    [event] = _actions("device:revoke")
    assert (event.actor_user_id, event.actor_organization_id) == (operator.pk, None)


# --- pages ---------------------------------------------------------------------------------


def test_the_devices_page_lists_browsers_and_marks_this_one(clinician: User) -> None:
    other = Client(
        HTTP_USER_AGENT="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Version/17.0 Safari/605"
    )
    with time_machine.travel(START, tick=False):
        _sign_in(other, clinician, trust=True)
    client = _client()
    with time_machine.travel(START + timedelta(hours=1), tick=False):
        _sign_in(client, clinician)
        body = client.get("/account/security/devices/").content.decode()
    assert "Firefox on Windows" in body
    assert "Safari on iOS" in body
    assert body.count("This browser") == 1
    assert "Not trusted" in body
    assert body.count("Revoke trust") == 1
    assert "Revoke all" in body


def test_the_devices_page_has_an_empty_state(signed_in: object, db: None) -> None:
    client = signed_in(make_user())  # type: ignore[operator]  # the conftest factory
    body = client.get("/account/security/devices/").content.decode()
    assert "No browsers yet" in body


def test_the_security_page_summarises_factors_and_links_onwards(
    clinic: Organization, signed_in: object
) -> None:
    admin = make_membership(organization=clinic, role=Role.ORG_ADMIN, mfa=True).user
    body = signed_in(admin).get("/account/security/").content.decode()  # type: ignore[operator]
    assert "Authenticator app" in body
    assert "/accounts/2fa/" in body
    assert "/account/security/devices/" in body
    assert "/account/sessions/" in body or "Your sessions" in body
    assert "API tokens" in body
    patient = make_membership(organization=clinic, role=Role.PATIENT).user
    body = signed_in(patient).get("/account/security/").content.decode()  # type: ignore[operator]
    assert "API tokens" not in body
    assert "Recommended: add a second factor" in body


# --- pure parts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_agent", "label"),
    [
        (FIREFOX, "Firefox on Windows"),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
            "Chrome on Linux",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605 Version/17.5 Safari/605",
            "Safari on macOS",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/126.0 Safari/537.36 Edg/126.0",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        ("curl/8.5.0", "Unknown browser"),
        ("Mozilla/5.0 (X11; Linux x86_64)", "Linux"),
        ("", "Unknown browser"),
    ],
)
def test_browser_label(user_agent: str, label: str) -> None:
    assert browser_label(user_agent) == label


def test_device_is_trusted_compares_with_now() -> None:
    assert not device_is_trusted(None)
    device = Device(trusted_until=START)
    assert device_is_trusted(device, at=START - timedelta(seconds=1))
    assert not device_is_trusted(device, at=START)
    assert not device_is_trusted(Device(trusted_until=None))


def test_login_stages_swap_in_cuspids_second_factor_and_trust_stages() -> None:
    allauth = [
        "allauth.account.stages.EmailVerificationStage",
        "allauth.mfa.stages.AuthenticateStage",
    ]
    assert login_stages(allauth) == [
        "allauth.account.stages.EmailVerificationStage",
        "cuspid.accounts.stages.TrustedDeviceAuthenticateStage",
        "cuspid.accounts.stages.DeviceTrustStage",
    ]
    assert login_stages(["allauth.account.stages.EmailVerificationStage"]) == [
        "allauth.account.stages.EmailVerificationStage"
    ]


def test_a_browser_without_a_pending_cookie_is_known_by_the_one_it_sent(
    rf: RequestFactory,
) -> None:
    request = rf.get("/", HTTP_COOKIE=f"{DEVICE_COOKIE}=sent-value")
    assert devices.browser_secret(request) == "sent-value"
    assert devices.browser_secret(rf.get("/")) is None


def test_an_unusable_client_address_is_stored_as_none(rf: RequestFactory) -> None:
    assert devices._client_ip(rf.get("/", REMOTE_ADDR="not-an-address")) is None
    assert devices._client_ip(rf.get("/", REMOTE_ADDR="2001:db8::1")) == "2001:db8::1"


def test_the_account_actor_needs_a_signed_in_user(rf: RequestFactory) -> None:
    request = rf.get("/")
    request.user = AnonymousUser()
    request.session = {}  # type: ignore[assignment]  # a plain mapping is enough here
    with pytest.raises(NotAuthenticated):
        account_actor(request)


def test_the_security_page_counts_passkeys_and_recovery_codes(
    clinic: Organization, signed_in: object
) -> None:
    user = make_membership(organization=clinic, role=Role.DESIGNER).user
    Authenticator.objects.create(user=user, type=Authenticator.Type.WEBAUTHN, data={})
    codes = RecoveryCodes.activate(user)
    codes.validate_code(codes.generate_codes()[0])
    body = signed_in(user).get("/account/security/").content.decode()  # type: ignore[operator]
    assert "1 passkey" in body
    assert "<dd>9</dd>" in body
