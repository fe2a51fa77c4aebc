"""``manage.py seed_demo``: two clinics, one lab, a user per role; idempotent; real logins;
the first clinic's demo patients with a case in every workflow state."""

from __future__ import annotations

import datetime
import io
import re
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
import trimesh
from allauth.mfa.models import Authenticator
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.test import Client
from pytest_django import Settings

from cuspid.accounts.models import User
from cuspid.cases.enums import AttachmentKind, CaseStatus
from cuspid.cases.models import Attachment, Case, CaseEvent, Revision
from cuspid.cases.policies import visible_cases
from cuspid.cases.services import case_facts
from cuspid.cases.workflow import Action
from cuspid.core import clock
from cuspid.keys.blobs import blob_chunks
from cuspid.keys.crypto import seal_secret
from cuspid.patients.models import Patient
from cuspid.patients.selectors import PatientSearch, patient_list_for
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.enums import ConnectionStatus, OrganizationKind, Role
from cuspid.tenancy.models import LabConnection, Membership, Organization
from cuspid.web.demo import DEMO_TOTP_SECRET, DemoLogin, format_logins
from cuspid.web.demo_cases import CASES, PATIENTS, seed_demo_cases
from cuspid.web.demo_scans import STL_HEADER
from tests.factories import make_lab_connection, totp_code

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


# The first demo clinic's cases: every state, shared with the demo lab, with scans and designs.

_UNSHARED = {CaseStatus.DRAFT, CaseStatus.DECLINED}
# Revision 1 exists from the design on; a case cancelled or declined before it has none.
_DESIGNED = {
    CaseStatus.IN_DESIGN,
    CaseStatus.AWAITING_REVIEW,
    CaseStatus.CHANGES_REQUESTED,
    CaseStatus.APPROVED,
    CaseStatus.IN_PRODUCTION,
    CaseStatus.SHIPPED,
    CaseStatus.DELIVERED,
    CaseStatus.CLOSED,
}


def _demo_orgs() -> tuple[Organization, Organization, Organization]:
    return (
        Organization.objects.get(name="Maple Grove Dental (demo)"),
        Organization.objects.get(name="Riverbend Family Dentistry (demo)"),
        Organization.objects.get(name="Northstar Dental Lab (demo)"),
    )


def _actor(email: str, organization: Organization) -> Actor:
    membership = Membership.objects.select_related("user", "organization").get(
        user__email=email, organization=organization
    )
    return Actor.of(membership)


def _case_counts() -> tuple[int, ...]:
    return tuple(
        model.objects.count() for model in (Patient, Case, Attachment, Revision, CaseEvent)
    )


def test_seed_demo_gives_the_first_clinic_fictional_patients_and_a_case_in_every_state(
    var_dir: Path, db: None
) -> None:
    _seed()
    clinic, other_clinic, _lab = _demo_orgs()
    statuses = list(Case.objects.filter(organization=clinic).values_list("status", flat=True))
    assert set(statuses) == set(CaseStatus.values)
    assert len(statuses) == len(CASES)
    assert not Case.objects.filter(organization=other_clinic).exists()
    patients = Patient.objects.filter(organization=clinic)
    assert patients.count() == len(PATIENTS) >= 8
    assert set(patients.values_list("preferred_language", flat=True)) == {"en", "fr"}
    dentist = _actor("dentist@maplegrove.example", clinic)
    for spec in PATIENTS:
        found = patient_list_for(actor=dentist, search=PatientSearch(health_card=spec.health_card))
        patient = found.get()
        assert patient.health_card.startswith("0000-")
        assert patient.email.endswith("@example.com")
        assert patient.given_name == spec.given_name
    assert Case.objects.filter(organization=clinic, priority="rush").exists()
    assert Case.objects.filter(organization=clinic, case_type="bridge", teeth=[14, 15, 16]).exists()
    assert len(set(Case.objects.values_list("case_type", flat=True))) >= 6


def test_demo_cases_are_shared_with_the_demo_lab_as_the_workflow_says(
    var_dir: Path, db: None
) -> None:
    _seed()
    clinic, _other, lab = _demo_orgs()
    for case in Case.objects.filter(organization=clinic):
        expected = None if case.status in _UNSHARED else lab.id
        assert case.shared_with_lab_id == expected, case.status
    designer_sees = set(
        visible_cases(_actor("designer@northstar.example", lab)).values_list("status", flat=True)
    )
    assert designer_sees == set(CaseStatus.values) - _UNSHARED
    declined = Case.objects.get(organization=clinic, status=CaseStatus.DECLINED)
    assert CaseEvent.objects.filter(case=declined, entry=Action.DECLINE).get().note
    changes = Case.objects.get(organization=clinic, status=CaseStatus.CHANGES_REQUESTED)
    assert CaseEvent.objects.filter(case=changes, entry=Action.REQUEST_CHANGES).get().note


def test_every_demo_case_has_a_stored_scan_that_parses(var_dir: Path, db: None) -> None:
    _seed()
    clinic, _other, _lab = _demo_orgs()
    for case in Case.objects.filter(organization=clinic):
        scans = Attachment.objects.filter(case=case, revision__isnull=True)
        assert scans.exists(), case.status
        for scan in scans:
            assert scan.kind == AttachmentKind.SCAN
            assert (scan.vertex_count or 0) > 0
            assert (scan.face_count or 0) > 0
            assert scan.bounds is not None
    stored = Attachment.objects.filter(case__organization=clinic, revision__isnull=True)[0]
    content = b"".join(blob_chunks(stored.blob))
    assert content.startswith(STL_HEADER)
    mesh = trimesh.load(io.BytesIO(content), file_type="stl", process=False)
    assert isinstance(mesh, trimesh.Trimesh)
    assert len(mesh.faces) == stored.face_count


def test_demo_cases_have_design_revisions_from_the_design_on(var_dir: Path, db: None) -> None:
    _seed()
    clinic, _other, _lab = _demo_orgs()
    for case in Case.objects.filter(organization=clinic):
        revisions = Revision.objects.filter(case=case)
        if case.status not in _DESIGNED:
            assert not revisions.exists(), case.status
            continue
        assert revisions.filter(number=1).exists(), case.status
        for revision in revisions:
            files = Attachment.objects.filter(revision=revision)
            assert files.count() == 1
            assert files.get().face_count
    approved = Case.objects.get(organization=clinic, status=CaseStatus.APPROVED)
    assert Revision.objects.filter(case=approved).count() == 2


def test_demo_timelines_take_days_in_order_ending_now(var_dir: Path, db: None) -> None:
    _seed()
    clinic, _other, _lab = _demo_orgs()
    now = clock.now()
    for case in Case.objects.filter(organization=clinic):
        times = list(CaseEvent.objects.filter(case=case).values_list("created_at", flat=True))
        assert times == sorted(times), case.status
        assert case.created_at == times[0]
        assert case.status_changed_at == times[-1] <= now
        if case.status == CaseStatus.SHIPPED:
            # submit, accept, design, review, approval, production, shipping: days, not seconds
            assert times[-1] - times[0] > datetime.timedelta(days=3)
    # A case sent back for changes needs a new revision before it can go for review again.
    sent_back = Case.objects.get(organization=clinic, status=CaseStatus.CHANGES_REQUESTED)
    assert case_facts(sent_back).revisions_since_changes == 0


def test_demo_steps_are_taken_by_the_member_on_each_side(var_dir: Path, db: None) -> None:
    _seed()
    clinic, _other, _lab = _demo_orgs()
    closed = Case.objects.get(organization=clinic, status=CaseStatus.CLOSED)
    actors = dict(CaseEvent.objects.filter(case=closed).values_list("entry", "actor__email"))
    assert actors[Action.SUBMIT] == "dentist@maplegrove.example"
    assert actors[Action.APPROVE] == "dentist@maplegrove.example"
    assert actors[Action.ACCEPT] == "designer@northstar.example"
    assert actors[Action.SEND_FOR_REVIEW] == "designer@northstar.example"
    assert actors[Action.SHIP] == "labstaff@northstar.example"
    assert actors[Action.CLOSE] == "dentist@maplegrove.example"


def test_seed_demo_twice_adds_no_patient_case_file_or_revision(var_dir: Path, db: None) -> None:
    _seed()
    counts = _case_counts()
    assert counts[1] == len(CASES)
    _seed()
    assert _case_counts() == counts


def test_demo_cases_stay_drafts_until_the_lab_connection_is_active_then_move_on(
    clinic: Organization,
    lab: Organization,
    member_of: Callable[[Organization, Role], Membership],
    db: None,
) -> None:
    connection = make_lab_connection(clinic=clinic, lab=lab, status=ConnectionStatus.PENDING)
    for organization, role in (
        (clinic, Role.CLINICIAN),
        (lab, Role.DESIGNER),
        (lab, Role.LAB_STAFF),
    ):
        member_of(organization, role)
    made = seed_demo_cases(clinic=clinic, lab=lab)
    assert [case.status for case in made] == [CaseStatus.DRAFT]
    assert not Case.objects.exclude(status=CaseStatus.DRAFT).exists()
    connection.status = ConnectionStatus.ACTIVE
    connection.save(update_fields=["status"])
    made = seed_demo_cases(clinic=clinic, lab=lab)
    assert len(made) == len(CASES) - 1
    assert set(Case.objects.values_list("status", flat=True)) == set(CaseStatus.values)
    assert Patient.objects.count() == len(PATIENTS)
    assert seed_demo_cases(clinic=clinic, lab=lab) == []


def test_demo_cases_need_the_members_who_take_their_steps(
    clinic: Organization,
    lab: Organization,
    member_of: Callable[[Organization, Role], Membership],
    db: None,
) -> None:
    make_lab_connection(clinic=clinic, lab=lab)
    member_of(clinic, Role.CLINICIAN)
    member_of(lab, Role.DESIGNER)
    with pytest.raises(RuntimeError, match="no active"):
        seed_demo_cases(clinic=clinic, lab=lab)
    assert not Patient.objects.exists()
