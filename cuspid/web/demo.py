"""Demo data for the embedded default: two clinics, one lab, one user for every role, and
patients with a case in every workflow state (``demo_cases``) for the first clinic.

Everything here is fictitious. Running it again changes nothing that exists; passwords are
random, generated on the first run and kept in ``var/demo-logins.json`` (mode 0600) so the
printed table stays true across runs.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from cuspid.accounts.models import User
from cuspid.accounts.services import user_create, user_password_set
from cuspid.accounts.services.mfa import totp_enrol_with_secret
from cuspid.core.actors import SystemActor
from cuspid.tenancy.enums import ConnectionStatus, OrganizationKind, Role
from cuspid.tenancy.models import LabConnection, Membership, Organization
from cuspid.tenancy.services import lab_connection_create, membership_create, organization_create
from cuspid.web.demo_cases import seed_demo_cases


@dataclass(frozen=True)
class DemoOrganization:
    key: str
    kind: OrganizationKind
    name: str
    country: str
    region: str
    time_zone: str


@dataclass(frozen=True)
class DemoUser:
    email: str
    full_name: str
    memberships: tuple[tuple[str, Role], ...]
    language: str = "en"
    is_staff: bool = False

    @property
    def needs_mfa(self) -> bool:
        """Staff and lab accounts (and the operator) must have a second factor; patients not."""
        return self.is_staff or any(role != Role.PATIENT for _org, role in self.memberships)

    @property
    def role_label(self) -> str:
        if not self.memberships:
            return "Platform operator"
        return ", ".join(dict.fromkeys(str(role.label) for _org, role in self.memberships))


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str
    role: str
    organizations: str
    totp: bool = False


ORGANIZATIONS = (
    DemoOrganization(
        "on", OrganizationKind.CLINIC, "Maple Grove Dental (demo)", "CA", "CA-ON", "America/Toronto"
    ),
    DemoOrganization(
        "us",
        OrganizationKind.CLINIC,
        "Riverbend Family Dentistry (demo)",
        "US",
        "US-NY",
        "America/New_York",
    ),
    DemoOrganization(
        "lab", OrganizationKind.LAB, "Northstar Dental Lab (demo)", "CA", "CA-ON", "America/Toronto"
    ),
)

USERS = (
    DemoUser("admin@maplegrove.example", "Alex Admin", (("on", Role.ORG_ADMIN),)),
    DemoUser(
        "dentist@maplegrove.example",
        "Dr. Dana Demo",
        (("on", Role.CLINICIAN), ("us", Role.CLINICIAN)),
    ),
    DemoUser("staff@maplegrove.example", "Sam Sample", (("on", Role.STAFF),), language="fr"),
    DemoUser("patient@maplegrove.example", "Pat Placeholder", (("on", Role.PATIENT),)),
    DemoUser("admin@riverbend.example", "Riley Rivers", (("us", Role.ORG_ADMIN),)),
    DemoUser("admin@northstar.example", "Noor Northstar", (("lab", Role.ORG_ADMIN),)),
    DemoUser("designer@northstar.example", "Devon Designer", (("lab", Role.DESIGNER),)),
    DemoUser("labstaff@northstar.example", "Lee Labtech", (("lab", Role.LAB_STAFF),)),
    DemoUser("operator@cuspid.example", "Olive Operator", (), is_staff=True),
)


# The authenticator-app secret of every demo staff account. DEMO ONLY: it is printed and in
# the source, so anyone can make codes with it; demo data is refused in production.
DEMO_TOTP_SECRET = "CUSPIDDEMOSECRETDONOTUSEANYWHERE"  # noqa: S105 -- public on purpose (demo only)


def _passwords_file() -> Path:
    return Path(settings.VAR_DIR) / "demo-logins.json"


def _load_passwords(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _organization(spec: DemoOrganization) -> Organization:
    existing = Organization.objects.filter(kind=spec.kind, name=spec.name).first()
    if existing is not None:
        return existing
    return organization_create(
        kind=spec.kind,
        name=spec.name,
        country=spec.country,
        region=spec.region,
        time_zone=spec.time_zone,
    )


def _user(spec: DemoUser, password: str) -> User:
    user = User.objects.filter(email__iexact=spec.email).first()
    if user is None:
        return user_create(
            email=spec.email,
            password=password,
            full_name=spec.full_name,
            language=spec.language,
            is_staff=spec.is_staff,
        )
    if not user.check_password(password):
        user_password_set(user=user, password=password)
    return user


def seed_demo() -> list[DemoLogin]:
    """Create (or find) the demo organisations, users, memberships and connections, and the
    first clinic's demo patients and cases (made through the services, so audited).

    Refuses to run where ``CUSPID_DEMO_ALLOWED`` is false (production settings).
    Returns one login per demo user, with its password.
    """
    if not getattr(settings, "CUSPID_DEMO_ALLOWED", False):
        raise RuntimeError("Demo data is not allowed under these settings.")
    orgs = {spec.key: _organization(spec) for spec in ORGANIZATIONS}
    for clinic_key in ("on", "us"):
        clinic, lab = orgs[clinic_key], orgs["lab"]
        if not LabConnection.objects.filter(clinic=clinic, lab=lab).exists():
            lab_connection_create(clinic=clinic, lab=lab, status=ConnectionStatus.ACTIVE)

    path = _passwords_file()
    passwords = _load_passwords(path)
    logins: list[DemoLogin] = []
    for spec in USERS:
        password = passwords.get(spec.email) or secrets.token_urlsafe(12)
        passwords[spec.email] = password
        user = _user(spec, password)
        for org_key, role in spec.memberships:
            org = orgs[org_key]
            if not Membership.objects.filter(user=user, organization=org).exists():
                membership_create(user=user, organization=org, role=role)
        if spec.needs_mfa:
            totp_enrol_with_secret(
                actor=SystemActor(reason="demo_seed"), user=user, secret=DEMO_TOTP_SECRET
            )
        logins.append(
            DemoLogin(
                email=spec.email,
                password=password,
                role=spec.role_label,
                organizations=", ".join(orgs[key].name for key, _role in spec.memberships) or "—",
                totp=spec.needs_mfa,
            )
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(passwords, indent=2), encoding="utf-8")
    path.chmod(0o600)
    seed_demo_cases(clinic=orgs["on"], lab=orgs["lab"])
    return logins


def format_logins(logins: list[DemoLogin]) -> str:
    """The demo logins as a plain-text table."""
    headers = ("Email", "Password", "Role", "Organization", "Second factor")
    rows = [
        (x.email, x.password, x.role, x.organizations, "authenticator app" if x.totp else "—")
        for x in logins
    ]
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    line = "+".join("-" * (w + 2) for w in widths)
    out = [line, " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)), line]
    out += [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    out.append(line)
    out.append(
        "External reviewers have no account: a clinician shares one revision with them "
        "through a review link."
    )
    if any(x.totp for x in logins):
        out.append(
            f"Second factor (DEMO ONLY, never for real accounts): authenticator-app secret "
            f"{DEMO_TOTP_SECRET}"
        )
        out.append(
            "  Current 6-digit code: .venv/bin/python manage.py demo_totp EMAIL "
            "(or add the secret to any authenticator app)."
        )
    return "\n".join(out)
