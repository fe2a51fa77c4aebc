"""MFA required for staff and lab accounts, single-use TOTP codes, the last second factor
kept, and allauth.mfa's events in the audit trail."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from allauth.mfa import signals
from allauth.mfa.adapter import get_adapter
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from django.db import connection
from django.test import Client, RequestFactory, TestCase
from django.test.utils import CaptureQueriesContext

from cuspid.accounts.authtime import mark_authenticated
from cuspid.accounts.middleware import mfa_satisfied
from cuspid.accounts.models import User
from cuspid.audit.models import AuditEvent
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.factories import (
    TEST_PASSWORD,
    TEST_TOTP_SECRET,
    enrol_totp,
    make_membership,
    make_user,
    totp_code,
)

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ENROL = "/accounts/2fa/totp/activate/"
REQUIRED_ROLES = [Role.ORG_ADMIN, Role.CLINICIAN, Role.STAFF, Role.DESIGNER, Role.LAB_STAFF]


def _forced_in(user: User) -> Client:
    """A client signed in without passing any sign-in step (the enrolment wall decides)."""
    client = Client()
    client.force_login(user)
    return client


def _recently_authenticated(client: Client) -> None:
    """Mark the session as just fully authenticated (MFA changes need a step-up)."""
    session = client.session
    mark_authenticated(session)
    session.save()


def _member(organization: Organization, role: Role) -> User:
    return make_membership(organization=organization, role=role).user


def _actions(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("sequence"))


# --- the enrolment wall ----------------------------------------------------------------------


@pytest.mark.parametrize("role", REQUIRED_ROLES)
def test_staff_and_lab_roles_without_a_second_factor_see_only_enrolment(
    role: Role, clinic: Organization, lab: Organization
) -> None:
    org = lab if role in (Role.DESIGNER, Role.LAB_STAFF) else clinic
    client = _forced_in(_member(org, role))
    for path in ("/", "/profile/", "/account/security/devices/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"] == ENROL
    page = client.get("/", follow=True).content.decode()
    assert "Your organization requires a second factor" in page
    assert client.get("/accounts/2fa/").status_code == 200
    assert client.get("/healthz").status_code in (200, 301)


def test_a_platform_operator_must_enrol_too(db: None) -> None:
    client = _forced_in(make_user(is_staff=True))
    assert client.get("/")["Location"] == ENROL


def test_patients_are_offered_mfa_but_not_forced(clinic: Organization) -> None:
    client = _forced_in(_member(clinic, Role.PATIENT))
    assert client.get("/").status_code == 200
    body = client.get("/account/security/").content.decode()
    assert "Recommended: add a second factor" in body


def test_a_patient_who_is_also_staff_elsewhere_must_enrol(
    clinic: Organization, other_clinic: Organization
) -> None:
    user = _member(clinic, Role.PATIENT)
    make_membership(user=user, organization=other_clinic, role=Role.STAFF)
    assert _forced_in(user).get("/")["Location"] == ENROL


def test_a_deactivated_staff_membership_no_longer_forces_mfa(clinic: Organization) -> None:
    user = _member(clinic, Role.PATIENT)
    staff = make_membership(user=user, role=Role.STAFF)
    Membership.objects.filter(pk=staff.pk).update(is_active=False)
    assert _forced_in(user).get("/").status_code == 200


def test_the_api_answers_403_mfa_required(clinic: Organization) -> None:
    client = _forced_in(_member(clinic, Role.CLINICIAN))
    response = client.get("/api/v1/me")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Your organization requires a second factor. Set up an authenticator app "
        "or a passkey to continue.",
        "code": "mfa_required",
    }


@pytest.mark.parametrize("kind", ["totp", "webauthn"])
def test_a_second_factor_opens_the_pages(kind: str, clinic: Organization) -> None:
    user = _member(clinic, Role.STAFF)
    if kind == "totp":
        enrol_totp(user)
    else:
        Authenticator.objects.create(user=user, type=Authenticator.Type.WEBAUTHN, data={})
    client = _forced_in(user)
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/me").status_code == 200


def test_recovery_codes_alone_are_no_second_factor(clinic: Organization) -> None:
    user = _member(clinic, Role.STAFF)
    RecoveryCodes.activate(user)
    assert _forced_in(user).get("/")["Location"] == ENROL


def test_the_check_costs_at_most_one_query_per_request(
    clinic: Organization, rf: RequestFactory
) -> None:
    user = _member(clinic, Role.STAFF)
    enrol_totp(user)
    request = rf.get("/")
    request.user = user
    request.memberships = list(Membership.objects.filter(user=user))  # type: ignore[attr-defined]
    with CaptureQueriesContext(connection) as queries:
        assert mfa_satisfied(request)
        assert mfa_satisfied(request)
    assert len(queries) == 1
    assert "EXISTS" in queries[0]["sql"].upper() or "LIMIT 1" in queries[0]["sql"].upper()


def test_the_check_asks_the_database_when_memberships_are_not_loaded(
    clinic: Organization, rf: RequestFactory
) -> None:
    request = rf.get("/")
    request.user = _member(clinic, Role.STAFF)
    assert not mfa_satisfied(request)
    request = rf.get("/")
    request.user = _member(clinic, Role.PATIENT)
    assert mfa_satisfied(request)


# --- TOTP codes: 30 s steps, single use ----------------------------------------------------


def test_totp_codes_change_every_30_seconds_and_work_once(user: User) -> None:
    totp = TOTP(enrol_totp(user))
    with time_machine.travel(START, tick=False) as traveller:
        first = totp_code(TEST_TOTP_SECRET)
        assert totp.validate_code(first)
        assert not totp.validate_code(first)  # the same code twice fails
        traveller.shift(timedelta(seconds=29))
        assert totp_code(TEST_TOTP_SECRET) == first
        traveller.shift(timedelta(seconds=1))
        second = totp_code(TEST_TOTP_SECRET)
        assert second != first
        assert not totp.validate_code(first)  # an old step's code is refused (no tolerance)
        assert totp.validate_code(second)


def test_a_used_code_is_refused_at_the_next_sign_in(clinic: Organization) -> None:
    user = make_membership(organization=clinic, role=Role.STAFF, mfa=True).user
    with time_machine.travel(START, tick=False):
        code = totp_code()
        first, second = Client(), Client()
        for client in (first, second):
            client.post("/accounts/login/", {"login": user.email, "password": TEST_PASSWORD})
        assert first.post("/accounts/2fa/authenticate/", {"code": code}).status_code == 302
        again = second.post("/accounts/2fa/authenticate/", {"code": code})
    assert again.status_code == 200
    assert "Incorrect code." in again.content.decode()


# --- the last second factor stays ----------------------------------------------------------


def test_an_mfa_required_account_cannot_remove_its_last_second_factor(
    clinic: Organization,
) -> None:
    user = _member(clinic, Role.CLINICIAN)
    totp = enrol_totp(user)
    adapter = get_adapter()
    assert not adapter.can_delete_authenticator(totp)
    passkey = Authenticator.objects.create(user=user, type=Authenticator.Type.WEBAUTHN, data={})
    assert adapter.can_delete_authenticator(totp)
    assert adapter.can_delete_authenticator(passkey)
    totp.delete()
    assert not adapter.can_delete_authenticator(passkey)
    codes = RecoveryCodes.activate(user).instance
    assert adapter.can_delete_authenticator(codes)


def test_a_patient_may_remove_their_only_factor(clinic: Organization) -> None:
    user = _member(clinic, Role.PATIENT)
    client = _forced_in(user)
    enrol_totp(user)
    _recently_authenticated(client)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post("/accounts/2fa/totp/deactivate/")
    assert response.status_code == 302
    assert not Authenticator.objects.filter(user=user, type="totp").exists()
    assert [e.target_type for e in _actions("mfa:remove")] == ["authenticator"]


def test_turning_off_the_last_totp_is_refused_with_an_explanation(clinic: Organization) -> None:
    user = _member(clinic, Role.CLINICIAN)
    enrol_totp(user)
    client = _forced_in(user)
    _recently_authenticated(client)
    response = client.post("/accounts/2fa/totp/deactivate/")
    assert response.status_code == 200
    assert "add another one" in response.content.decode()
    assert Authenticator.objects.filter(user=user, type="totp").exists()


def test_removing_the_last_passkey_is_refused(clinic: Organization) -> None:
    user = _member(clinic, Role.DESIGNER)
    passkey = Authenticator.objects.create(
        user=user, type=Authenticator.Type.WEBAUTHN, data={"name": "Laptop"}
    )
    client = _forced_in(user)
    _recently_authenticated(client)
    url = f"/accounts/2fa/webauthn/keys/{passkey.pk}/remove/"
    response = client.post(url, follow=True)
    assert "add another one" in response.content.decode()
    assert Authenticator.objects.filter(pk=passkey.pk).exists()
    enrol_totp(user)
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert client.post(url).status_code == 302
    assert not Authenticator.objects.filter(pk=passkey.pk).exists()
    [removed] = _actions("mfa:remove")
    assert removed.target_id == str(passkey.pk)


# --- audit -----------------------------------------------------------------------------------


def test_enrolling_totp_audits_the_authenticator_and_its_recovery_codes(
    clinic: Organization,
) -> None:
    user = _member(clinic, Role.STAFF)
    client = _forced_in(user)
    _recently_authenticated(client)
    assert client.get(ENROL).status_code == 200
    secret = client.session["mfa.totp.secret"]
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(ENROL, {"code": totp_code(secret)})
    assert response["Location"] == "/accounts/2fa/recovery-codes/"
    enrolled = _actions("mfa:enrol")
    ids = set(Authenticator.objects.filter(user=user).values_list("pk", flat=True))
    assert {int(e.target_id) for e in enrolled} == ids
    assert {e.actor_organization_id for e in enrolled} == {clinic.pk}
    # The codes are shown once.
    first = client.get("/accounts/2fa/recovery-codes/").content.decode()
    assert "Store these codes now" in first
    assert "cuspid-recovery-codes.txt" in first
    second = client.get("/accounts/2fa/recovery-codes/").content.decode()
    assert "Store these codes now" not in second
    assert "Your codes were shown once" in second


def test_regenerating_recovery_codes_is_audited(clinic: Organization) -> None:
    user = _member(clinic, Role.STAFF)
    enrol_totp(user)
    RecoveryCodes.activate(user)
    client = _forced_in(user)
    _recently_authenticated(client)
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post("/accounts/2fa/recovery-codes/generate/")
    assert response.status_code == 302
    [event] = _actions("mfa:recovery_codes_regenerate")
    new = Authenticator.objects.get(user=user, type="recovery_codes")
    assert event.target_id == str(new.pk)


def test_a_recovery_code_used_at_sign_in_is_audited(clinic: Organization) -> None:
    user = make_membership(organization=clinic, role=Role.STAFF, mfa=True).user
    codes = RecoveryCodes.activate(user)
    client = Client()
    client.post("/accounts/login/", {"login": user.email, "password": TEST_PASSWORD})
    response = client.post("/accounts/2fa/authenticate/", {"code": codes.generate_codes()[0]})
    assert response["Location"] == "/accounts/trust-this-browser/"
    [event] = _actions("auth:recovery_code_use")
    assert event.target_id == str(codes.instance.pk)
    assert event.actor_user_id == user.pk


def test_a_totp_second_factor_adds_no_event_of_its_own(clinic: Organization) -> None:
    user = make_membership(organization=clinic, role=Role.STAFF, mfa=True).user
    client = Client()
    client.post("/accounts/login/", {"login": user.email, "password": TEST_PASSWORD})
    client.post("/accounts/2fa/authenticate/", {"code": totp_code()})
    assert not _actions("auth:recovery_code_use")
    assert not _actions("auth:passkey_sign_in")


def test_a_passwordless_passkey_sign_in_is_audited(
    clinic: Organization, rf: RequestFactory
) -> None:
    user = _member(clinic, Role.DESIGNER)
    passkey = Authenticator.objects.create(user=user, type=Authenticator.Type.WEBAUTHN, data={})
    signals.authenticator_used.send(
        sender=Authenticator,
        request=rf.post("/accounts/2fa/webauthn/login/"),
        user=user,
        authenticator=passkey,
        reauthenticated=False,
        passwordless=True,
    )
    [event] = _actions("auth:passkey_sign_in")
    assert (event.target_type, event.target_id) == ("authenticator", str(passkey.pk))


SignalSender = Callable[..., object]


@pytest.mark.parametrize(
    ("signal", "action"),
    [
        (signals.authenticator_added, "mfa:enrol"),
        (signals.authenticator_removed, "mfa:remove"),
        (signals.authenticator_reset, "mfa:recovery_codes_regenerate"),
    ],
)
def test_each_allauth_signal_reaches_the_audit_trail(
    signal: signals.Signal, action: str, user: User, rf: RequestFactory
) -> None:
    authenticator = enrol_totp(user)
    signal.send(sender=Authenticator, request=rf.get("/"), user=user, authenticator=authenticator)
    [event] = _actions(action)
    assert event.target_id == str(authenticator.pk)
    assert event.actor_user_id == user.pk


def test_a_passkey_is_renamed_on_a_labelled_form(clinic: Organization) -> None:
    user = _member(clinic, Role.DESIGNER)
    enrol_totp(user)
    passkey = Authenticator.objects.create(
        user=user, type=Authenticator.Type.WEBAUTHN, data={"name": "Laptop", "credential": {}}
    )
    client = _forced_in(user)
    _recently_authenticated(client)
    page = client.get(f"/accounts/2fa/webauthn/keys/{passkey.pk}/edit/")
    assert page.status_code == 200
    assert '<label for="id_name">Name</label>' in page.content.decode()
    response = client.post(f"/accounts/2fa/webauthn/keys/{passkey.pk}/edit/", {"name": "Desk"})
    assert response.status_code == 302
    passkey.refresh_from_db()
    assert passkey.data["name"] == "Desk"
