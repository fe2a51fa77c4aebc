"""``manage.py seed_demo``: two clinics, one lab, a user per role; idempotent; real logins."""

from __future__ import annotations

import io
import re
import stat
from pathlib import Path

import pytest
from allauth.mfa.models import Authenticator
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.test import Client
from pytest_django import Settings

from cuspid.accounts.models import User
from cuspid.keys.crypto import seal_secret
from cuspid.tenancy.enums import ConnectionStatus, OrganizationKind, Role
from cuspid.tenancy.models import LabConnection, Membership, Organization
from cuspid.web.demo import DEMO_TOTP_SECRET, DemoLogin, format_logins
from tests.factories import totp_code

_ROW = re.compile(r"^(\S+@\S+)\s+\|\s+(\S+)\s+\|")


@pytest.fixture
def var_dir(settings: Settings, tmp_path: Path) -> Path:
    settings.VAR_DIR = tmp_path
    return tmp_path


def _seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def _logins(output: str) -> dict[str, str]:
    return {m[1]: m[2] for line in output.splitlines() if (m := _ROW.match(line))}


def _counts() -> tuple[int, int, int, int]:
    return (
        Organization.objects.count(),
        User.objects.count(),
        Membership.objects.count(),
        LabConnection.objects.count(),
    )


def test_seed_demo_creates_clinics_lab_and_connections(var_dir: Path, db: None) -> None:
    _seed()
    clinics = Organization.objects.filter(kind=OrganizationKind.CLINIC)
    labs = Organization.objects.filter(kind=OrganizationKind.LAB)
    assert clinics.count() == 2
    assert labs.count() == 1
    ontario = clinics.get(region="CA-ON")
    assert ontario.country == "CA"
    us_clinic = clinics.get(country="US")
    assert us_clinic.region.startswith("US-")
    lab = labs.get()
    for clinic in (ontario, us_clinic):
        connection = LabConnection.objects.get(clinic=clinic, lab=lab)
        assert connection.status == ConnectionStatus.ACTIVE
    assert LabConnection.objects.count() == 2


def test_seed_demo_creates_a_user_for_every_role_and_an_operator(var_dir: Path, db: None) -> None:
    _seed()
    roles = set(Membership.objects.filter(is_active=True).values_list("role", flat=True))
    assert roles == set(Role.values)
    lab = Organization.objects.get(kind=OrganizationKind.LAB)
    assert set(Membership.objects.filter(organization=lab).values_list("role", flat=True)) == {
        Role.ORG_ADMIN,
        Role.DESIGNER,
        Role.LAB_STAFF,
    }
    for clinic in Organization.objects.filter(kind=OrganizationKind.CLINIC):
        assert Membership.objects.filter(organization=clinic, role=Role.ORG_ADMIN).exists()
    operators = User.objects.filter(is_staff=True, memberships__isnull=True)
    assert operators.count() == 1
    assert not operators.get().is_superuser


def test_seed_demo_prints_a_working_password_for_every_user(var_dir: Path, db: None) -> None:
    logins = _logins(_seed())
    assert set(logins) == set(User.objects.values_list("email", flat=True))
    assert len(logins) == User.objects.count() >= 7
    assert len(set(logins.values())) == len(logins)
    for email, password in logins.items():
        assert len(password) >= 12
        user = authenticate(None, email=email, password=password)
        assert user is not None, email
        assert user.email == email
        assert authenticate(None, email=email, password=password + "x") is None


def test_printed_password_signs_in_through_the_login_page(var_dir: Path, db: None) -> None:
    logins = _logins(_seed())
    email = next(e for e in logins if e.startswith("designer@"))
    client = Client()
    response = client.post("/accounts/login/", {"login": email, "password": logins[email]})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/2fa/authenticate/"
    response = client.post(response["Location"], {"code": totp_code(DEMO_TOTP_SECRET)})
    assert response["Location"] == "/accounts/trust-this-browser/"
    client.post(response["Location"], {"action": "skip"})
    assert client.get("/api/v1/me").json()["active_role"] == Role.DESIGNER


def test_seed_demo_twice_creates_no_duplicates_and_prints_the_same_passwords(
    var_dir: Path, db: None
) -> None:
    first = _seed()
    counts = _counts()
    second = _seed()
    assert _counts() == counts
    assert _logins(second) == _logins(first)
    assert second == first


def test_seed_demo_restores_a_changed_demo_password(var_dir: Path, db: None) -> None:
    logins = _logins(_seed())
    email = next(iter(logins))
    user = User.objects.get(email=email)
    user.set_password("someone changed it meanwhile")
    user.save(update_fields=["password"])
    _seed()
    assert authenticate(None, email=email, password=logins[email]) is not None


def test_seed_demo_keeps_passwords_in_a_private_file(var_dir: Path, db: None) -> None:
    logins = _logins(_seed())
    path = var_dir / "demo-logins.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text(encoding="utf-8")
    assert all(password in text for password in logins.values())


def test_seed_demo_refuses_when_demo_data_is_not_allowed(
    var_dir: Path, settings: Settings, db: None
) -> None:
    settings.CUSPID_DEMO_ALLOWED = False
    with pytest.raises(CommandError, match="not allowed"):
        _seed()
    assert _counts() == (0, 0, 0, 0)
    assert not (var_dir / "demo-logins.json").exists()


def test_seed_demo_enrols_every_staff_account_in_totp_with_the_printed_demo_secret(
    var_dir: Path, db: None
) -> None:
    output = _seed()
    assert DEMO_TOTP_SECRET in output
    assert "manage.py demo_totp EMAIL" in output
    staff = User.objects.exclude(memberships__role=Role.PATIENT)
    assert staff.count() == User.objects.count() - 1
    for user in staff:
        kinds = set(Authenticator.objects.filter(user=user).values_list("type", flat=True))
        assert kinds == {"totp", "recovery_codes"}, user.email
        call_out = io.StringIO()
        call_command("demo_totp", user.email, stdout=call_out)
        assert call_out.getvalue().strip() == totp_code(DEMO_TOTP_SECRET)
    patient = User.objects.get(memberships__role=Role.PATIENT)
    assert not Authenticator.objects.filter(user=patient).exists()


def test_seed_demo_twice_keeps_one_authenticator_each_and_restores_the_demo_secret(
    var_dir: Path, db: None
) -> None:
    _seed()
    before = set(Authenticator.objects.values_list("pk", flat=True))
    _seed()
    assert set(Authenticator.objects.values_list("pk", flat=True)) == before
    designer = User.objects.get(email="designer@northstar.example")
    Authenticator.objects.filter(user=designer, type="totp").update(
        data={"secret": seal_secret("AAAA" * 8, "mfa")}
    )
    _seed()
    out = io.StringIO()
    call_command("demo_totp", designer.email, stdout=out)
    assert out.getvalue().strip() == totp_code(DEMO_TOTP_SECRET)
    assert Authenticator.objects.filter(user=designer).count() == 2


def test_demo_totp_is_refused_outside_demo_mode(
    var_dir: Path, settings: Settings, db: None
) -> None:
    _seed()
    settings.CUSPID_DEMO_ALLOWED = False
    with pytest.raises(CommandError, match="only in demo mode"):
        call_command("demo_totp", "designer@northstar.example", stdout=io.StringIO())


def test_demo_totp_names_no_account_for_an_unknown_or_patient_email(
    var_dir: Path, db: None
) -> None:
    _seed()
    for email in ("nobody@example.com", "patient@maplegrove.example"):
        with pytest.raises(CommandError, match="No account with an authenticator app"):
            call_command("demo_totp", email, stdout=io.StringIO())


def test_the_logins_table_mentions_no_secret_when_no_login_has_totp() -> None:
    login = DemoLogin(email="p@x.example", password="pw", role="Patient", organizations="—")
    assert "demo_totp" not in format_logins([login])
