"""Signed approvals: who may approve what, the signature, and ``approvals_verify``.

Every approval goes through the real service (policy, step-up, workflow, signing, audit) on
the test database, with a signing key of the test's own and its stored files under the
test's own folder, so tampering with a blob, a row or the key touches nothing else.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import io
import json
import os
import stat
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from pytest_django.fixtures import Settings

from cuspid.accounts.authtime import mark_authenticated
from cuspid.accounts.models import User
from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.audit.models import AuditEvent
from cuspid.cases import approvals
from cuspid.cases.approvals import (
    CURRENT_STATEMENT_VERSION,
    MESSAGE_VERSION,
    ApprovalFacts,
    UnknownStatement,
    approval_signature_valid,
    statement_text,
)
from cuspid.cases.errors import InvalidTransition
from cuspid.cases.models import Approval, Attachment, Case, CaseEvent, Revision
from cuspid.cases.policies import access_revision
from cuspid.cases.selectors.approvals import (
    ProblemCode,
    SignatureCheck,
    approval_get_for,
    approval_public_keys,
    approval_record,
    approval_signature_check,
    approval_signing_key,
    approvals_verify,
)
from cuspid.cases.services.approvals import revision_approve
from cuspid.cases.workflow import Action, State
from cuspid.core import clock, signing
from cuspid.core.errors import CuspidError, InvalidInput, NotFound, PermissionDenied, StepUpRequired
from cuspid.keys.blobs import BlobCorrupted
from cuspid.keys.models import EncryptedBlob
from cuspid.patients.models import Patient
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.factories import make_lab_connection
from tests.factories.approvals import approve, approve_case, latest_revision
from tests.factories.cases import (
    actor_of,
    first_scan,
    make_case,
    make_patient,
    make_revision,
    send_case,
    transition,
)

MemberOf = Callable[[Organization, Role], Membership]
GIVEN, FAMILY = "Philippa", "Quenneville"
DESIGN_NAME = f"{FAMILY}-crown-design.stl"


@pytest.fixture(autouse=True)
def approval_key_path(settings: Settings, tmp_path: Path) -> Path:
    """Every test signs with its own key, created on first use in a temporary folder."""
    path = tmp_path / "keys" / "approval_signing_key.pem"
    settings.CUSPID_APPROVAL_SIGNING_KEY = path
    settings.CUSPID_APPROVAL_SIGNING_KEY_CREATE = True
    return path


@pytest.fixture(autouse=True)
def blob_store(settings: Settings, tmp_path: Path) -> Path:
    """Every stored file of the test under its own folder."""
    location = tmp_path / "blob-store"
    settings.CUSPID_BLOB_DIR = location
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location)},
        },
    }
    return location


@dataclass(frozen=True)
class Team:
    clinic: Organization
    lab: Organization
    clinician: Membership
    staff: Membership
    admin: Membership
    designer: Membership
    lab_staff: Membership
    patient: Patient


@pytest.fixture
def team(clinic: Organization, lab: Organization, member_of: MemberOf) -> Team:
    make_lab_connection(clinic=clinic, lab=lab)
    clinician = member_of(clinic, Role.CLINICIAN)
    return Team(
        clinic=clinic,
        lab=lab,
        clinician=clinician,
        staff=member_of(clinic, Role.STAFF),
        admin=member_of(clinic, Role.ORG_ADMIN),
        designer=member_of(lab, Role.DESIGNER),
        lab_staff=member_of(lab, Role.LAB_STAFF),
        patient=make_patient(clinician, given_name=GIVEN, family_name=FAMILY),
    )


def in_review(team: Team) -> Case:
    """A case with one scan, sent, accepted, revision 1 uploaded and sent for review."""
    case = send_case(team.clinician, make_case(team.clinician, team.patient), team.lab)
    case = transition(team.designer, case, "accept")
    make_revision(team.designer, case)
    return transition(team.designer, fresh(case), "send_for_review")


def second_round(team: Team, case: Case) -> Revision:
    """Changes requested on revision 1; revision 2 uploaded and sent for review."""
    transition(team.clinician, fresh(case), "request_changes", "Open the distal contact.")
    revision = make_revision(team.designer, fresh(case), note="Contact opened.")
    transition(team.designer, fresh(case), "send_for_review")
    return revision


def fresh(case: Case) -> Case:
    return Case.objects.select_related("organization", "shared_with_lab").get(pk=case.pk)


def audit_head() -> int:
    last = AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first()
    return last or 0


def audited_since(sequence: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(sequence__gt=sequence).order_by("sequence"))


def stored_path(location: Path, blob_id: uuid.UUID) -> Path:
    """Where a blob's ciphertext is: under its final name once promoted, else temporary."""
    final = location / "blobs" / str(blob_id)
    return final if final.exists() else location / "tmp" / str(blob_id)


def verify() -> tuple[bool, str]:
    """Run ``approvals_verify``: (passed, everything it printed)."""
    out = io.StringIO()
    try:
        call_command("approvals_verify", stdout=out)
    except CommandError as exc:
        return False, out.getvalue() + str(exc)
    return True, out.getvalue()


# --- approving -------------------------------------------------------------------------------


def test_a_clinician_approves_the_latest_revision_with_a_signed_record(
    team: Team, approval_key_path: Path
) -> None:
    case = in_review(team)
    revision = latest_revision(case)
    before = audit_head()
    approval = approve(team.clinician, revision)

    case = fresh(case)
    assert case.status == State.APPROVED
    stored = Approval.objects.get()
    assert stored == approval
    assert (stored.case_id, stored.revision_id, stored.patient_id) == (
        case.id,
        revision.id,
        case.patient_id,
    )
    assert (stored.approver_id, stored.organization_id) == (
        team.clinician.user_id,
        team.clinic.id,
    )
    assert stored.manifest_sha256 == revision.manifest_sha256
    assert stored.statement_version == CURRENT_STATEMENT_VERSION
    assert abs(clock.now() - stored.approved_at) < datetime.timedelta(minutes=1)
    key = approval_signing_key()
    assert stored.key_id == signing.public_key_id(key.public_key())
    assert approval_signature_check(stored, approval_public_keys()) == SignatureCheck.VERIFIED
    # The key was made on first use, readable by its owner only.
    assert stat.S_IMODE(os.stat(approval_key_path).st_mode) == 0o600

    # One timeline entry, naming the revision; one audit event, naming the approval.
    event = CaseEvent.objects.filter(case=case).order_by("-created_at", "-id")[0]
    assert (event.entry, event.from_status, event.to_status) == (
        Action.APPROVE,
        State.AWAITING_REVIEW,
        State.APPROVED,
    )
    assert (event.revision_id, event.actor_id) == (revision.id, team.clinician.user_id)
    [audited] = audited_since(before)
    assert (audited.action, audited.outcome) == (AuditAction.Case.Approved, Outcome.ALLOWED)
    assert (audited.target_type, audited.target_id) == ("approval", str(stored.id))
    assert audited.subject_patient == str(case.patient_id)
    assert audited.actor_user_id == team.clinician.user_id


def test_the_signature_verifies_offline_with_the_public_key_alone(team: Team) -> None:
    case = in_review(team)
    approval = approve(team.clinician, latest_revision(case))
    out = io.StringIO()
    call_command("approvals_public_key", stdout=out)
    pem = out.getvalue()
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")

    # What a verifier needs: the public key, the record's fields and the published statement
    # text; the check uses json, hashlib, base64 and cryptography only.
    public_key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(public_key, Ed25519PublicKey)
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert hashlib.sha256(raw).hexdigest()[:16] == approval.key_id
    statement = (
        f"I have reviewed design revision 1 of case {case.reference} and approve it for "
        "production as shown."
    )
    fields = {
        "v": "cuspid-approval-v1",
        "approval_id": str(approval.id),
        "case_id": str(case.id),
        "revision_id": str(approval.revision_id),
        "revision_number": 1,
        "manifest_sha256": approval.manifest_sha256,
        "approver_id": str(team.clinician.user_id),
        "approved_at": approval.approved_at.astimezone(datetime.UTC).isoformat(
            timespec="microseconds"
        ),
        "statement_version": "2026-12",
        "statement_sha256": hashlib.sha256(statement.encode()).hexdigest(),
    }
    message = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    public_key.verify(base64.b64decode(approval.signature), message)  # raises if not valid
    # Any other field value does not verify.
    for name, value in (
        ("revision_number", 2),
        ("manifest_sha256", "0" * 64),
        ("approver_id", str(uuid.uuid4())),
    ):
        altered = json.dumps({**fields, name: value}, sort_keys=True, separators=(",", ":"))
        with pytest.raises(InvalidSignature):
            public_key.verify(base64.b64decode(approval.signature), altered.encode())


def test_approval_records_are_immutable(team: Team) -> None:
    approval = approve(team.clinician, latest_revision(in_review(team)))
    approval.statement_version = "1999-01"
    with pytest.raises(ValueError, match="immutable"):
        approval.save()
    assert Approval.objects.get().statement_version == CURRENT_STATEMENT_VERSION


# --- refusals --------------------------------------------------------------------------------


def refused(
    team: Team, case: Case, call: Callable[[], object], error: type[CuspidError]
) -> CuspidError:
    """``call`` raises ``error``, changes nothing, and leaves exactly one denied
    ``case:approve`` event naming the revision (which survives the rollback)."""
    before = audit_head()
    status = fresh(case).status
    events = CaseEvent.objects.filter(case=case).count()
    with pytest.raises(error) as raised:
        call()
    assert fresh(case).status == status
    assert CaseEvent.objects.filter(case=case).count() == events
    [audited] = audited_since(before)
    assert (audited.action, audited.outcome) == (AuditAction.Case.Approved, Outcome.DENIED)
    assert audited.target_type == "revision"
    assert audited.subject_patient == str(case.patient_id)
    return raised.value


@pytest.mark.parametrize("role", ["staff", "admin", "designer", "lab_staff"])
def test_only_a_clinician_may_approve(role: str, team: Team) -> None:
    case = in_review(team)
    revision = latest_revision(case)
    member: Membership = getattr(team, role)
    refused(team, case, lambda: approve(member, revision), PermissionDenied)
    assert not Approval.objects.exists()


def test_a_clinician_on_the_labs_side_may_not_approve(team: Team, member_of: MemberOf) -> None:
    # Membership rules keep clinic roles out of labs; the side check does not rely on them.
    misplaced = member_of(team.lab, Role.CLINICIAN)
    case = in_review(team)
    refused(team, case, lambda: approve(misplaced, latest_revision(case)), PermissionDenied)


def test_another_clinics_clinician_finds_nothing_and_is_refused(
    team: Team, other_clinic: Organization, member_of: MemberOf
) -> None:
    stranger = member_of(other_clinic, Role.CLINICIAN)
    case = in_review(team)
    revision = latest_revision(case)
    with pytest.raises(NotFound):
        access_revision(actor_of(stranger), revision.id)
    # Reached anyway (a bug in a caller), the service refuses it too.
    refused(team, case, lambda: approve(stranger, revision), PermissionDenied)


@pytest.mark.parametrize(
    "age", [None, datetime.timedelta(seconds=django_settings.ACCOUNT_REAUTHENTICATION_TIMEOUT + 5)]
)
def test_approving_needs_a_recent_full_sign_in(age: datetime.timedelta | None, team: Team) -> None:
    case = in_review(team)
    at = None if age is None else clock.now() - age
    stale = Actor.of(team.clinician, authenticated_at=at)
    revision = latest_revision(case)

    def call() -> object:
        return revision_approve(
            actor=stale, revision=revision, statement_version=CURRENT_STATEMENT_VERSION
        )

    refused(team, case, call, StepUpRequired)
    assert not Approval.objects.exists()


def test_a_sign_in_29_minutes_ago_is_recent_enough(team: Team) -> None:
    case = in_review(team)
    recent = Actor.of(team.clinician, authenticated_at=clock.now() - datetime.timedelta(minutes=29))
    revision_approve(
        actor=recent, revision=latest_revision(case), statement_version=CURRENT_STATEMENT_VERSION
    )
    assert fresh(case).status == State.APPROVED


def test_a_superseded_revision_cannot_be_approved(team: Team) -> None:
    case = in_review(team)
    first = latest_revision(case)
    second = second_round(team, case)
    error = refused(team, case, lambda: approve(team.clinician, first), InvalidTransition)
    assert isinstance(error, InvalidTransition)
    assert error.status == 409
    assert error.detail.startswith("Revision 1 is superseded by revision 2")
    assert error.state == State.AWAITING_REVIEW
    assert Action.APPROVE in error.allowed
    approve(team.clinician, second)
    assert Approval.objects.get().revision_id == second.id


@pytest.mark.parametrize("state", [State.CHANGES_REQUESTED, State.IN_DESIGN, State.APPROVED])
def test_only_a_case_awaiting_review_can_be_approved(state: State, team: Team) -> None:
    case = in_review(team)
    revision = latest_revision(case)
    if state == State.APPROVED:
        approve(team.clinician, revision)
    else:
        transition(team.clinician, fresh(case), "request_changes", "Open the distal contact.")
        if state == State.IN_DESIGN:
            transition(team.designer, fresh(case), "start_design")
    assert fresh(case).status == state
    error = refused(team, case, lambda: approve(team.clinician, revision), InvalidTransition)
    assert error.body()["status"] == state.value
    assert Approval.objects.count() == (1 if state == State.APPROVED else 0)


def test_an_unknown_statement_version_is_invalid_input(team: Team) -> None:
    case = in_review(team)
    revision = latest_revision(case)
    for version in ("", "1999-01", "2026-12 "):

        def call(version: str = version) -> object:
            return revision_approve(
                actor=actor_of(team.clinician), revision=revision, statement_version=version
            )

        refused(team, case, call, InvalidInput)


def test_what_is_signed_is_what_is_stored(team: Team) -> None:
    case = in_review(team)
    revision = latest_revision(case)
    [file] = Attachment.objects.filter(revision=revision)
    recorded = revision.manifest_sha256
    # A revision row whose manifest is not its files' ...
    Revision.objects.filter(pk=revision.pk).update(manifest_sha256="0" * 64)
    refused(team, case, lambda: approve(team.clinician, revision), BlobCorrupted)
    Revision.objects.filter(pk=revision.pk).update(manifest_sha256=recorded)
    # ... or a stored file that is not what its row records: nothing is signed.
    EncryptedBlob.objects.filter(pk=file.blob_id).update(sha256="0" * 64)
    refused(team, case, lambda: approve(team.clinician, revision), BlobCorrupted)
    assert not Approval.objects.exists()


def test_case_transition_refuses_approve(team: Team) -> None:
    case = in_review(team)
    with pytest.raises(InvalidInput, match="approval operation"):
        transition(team.clinician, case, "approve")
    assert fresh(case).status == State.AWAITING_REVIEW


def test_production_refuses_to_approve_without_a_provisioned_key(
    team: Team, settings: Settings, approval_key_path: Path
) -> None:
    settings.CUSPID_APPROVAL_SIGNING_KEY_CREATE = False
    case = in_review(team)
    with pytest.raises(ImproperlyConfigured, match="no approval signing key"):
        approve(team.clinician, latest_revision(case))
    assert not approval_key_path.exists()
    assert fresh(case).status == State.AWAITING_REVIEW
    assert not Approval.objects.exists()


def test_the_demo_factory_approves_the_latest_revision(team: Team) -> None:
    case = in_review(team)
    second_round(team, case)
    assert approve_case(team.clinician, case).status == State.APPROVED
    assert Approval.objects.get().revision.number == 2


# --- reading ---------------------------------------------------------------------------------


def test_an_unapproved_revision_has_no_approval(team: Team) -> None:
    assert approval_get_for(revision=latest_revision(in_review(team))) is None


def test_the_record_shows_the_statement_message_and_check(team: Team) -> None:
    case = in_review(team)
    approval = approve(team.clinician, latest_revision(case))
    found = approval_get_for(revision=approval.revision)
    assert found == approval
    record = approval_record(found, approval_public_keys())
    assert record.statement_text == (
        f"I have reviewed design revision 1 of case {case.reference} and approve it for "
        "production as shown."
    )
    assert record.statement_sha256 == hashlib.sha256(record.statement_text.encode()).hexdigest()
    assert json.loads(record.message)["v"] == MESSAGE_VERSION
    assert record.signature_check == SignatureCheck.VERIFIED
    # A row naming a statement that was never published shows nothing and does not verify.
    Approval.objects.filter(pk=approval.pk).update(statement_version="1999-01")
    tampered = approval_record(Approval.objects.get(), approval_public_keys())
    assert (tampered.statement_text, tampered.message) == ("", "")
    assert tampered.signature_check == SignatureCheck.INVALID


def test_a_key_the_server_no_longer_holds_is_unknown(
    team: Team, settings: Settings, tmp_path: Path
) -> None:
    approval = approve(team.clinician, latest_revision(in_review(team)))
    settings.CUSPID_APPROVAL_SIGNING_KEY = tmp_path / "rotated" / "approval_signing_key.pem"
    assert approval_public_keys() == {}
    assert approval_signature_check(approval, {}) == SignatureCheck.UNKNOWN_KEY


# --- approvals_verify ------------------------------------------------------------------------


@pytest.fixture
def approved(team: Team) -> Approval:
    """Revision 2 of a case approved after one round of changes (two design files)."""
    case = in_review(team)
    second_round(team, case)
    return approve(team.clinician, latest_revision(case))


def _verify_events() -> list[tuple[str, str]]:
    return list(
        AuditEvent.objects.filter(action=AuditAction.Case.ApprovalsVerified).values_list(
            "outcome", "system_reason"
        )
    )


def test_verify_passes_and_counts_when_nothing_changed(approved: Approval) -> None:
    ok, output = verify()
    assert ok, output
    assert output.startswith("1 approvals verified (1 files), 1 public keys")
    assert _verify_events() == [(Outcome.ALLOWED, "approvals_verify")]


def test_verify_with_no_approvals(db: None) -> None:
    ok, output = verify()
    assert ok
    assert "0 approvals verified" in output


def _problem_line(approval: Approval, file: Attachment | None, code: ProblemCode) -> str:
    where = f" file {file.id}" if file is not None else ""
    return (
        f"approval {approval.id} case {approval.case.reference} revision "
        f"{approval.revision.number}{where}: {code.value}"
    )


def _no_phi(output: str) -> None:
    for value in (GIVEN, FAMILY, "crown-36.stl", DESIGN_NAME, "Contact opened"):
        assert value not in output


def test_an_overwritten_stored_file_is_named(approved: Approval, blob_store: Path) -> None:
    [file] = Attachment.objects.filter(revision=approved.revision)
    path = stored_path(blob_store, file.blob_id)
    ciphertext = bytearray(path.read_bytes())
    ciphertext[len(ciphertext) // 2] ^= 1
    path.write_bytes(bytes(ciphertext))
    ok, output = verify()
    assert not ok
    assert _problem_line(approved, file, ProblemCode.FILE_UNREADABLE) in output
    assert "cannot be read or decrypted (TinkError)" in output
    assert "1 problems in 1 approvals" in output
    _no_phi(output)
    assert _verify_events() == [(Outcome.ERROR, "approvals_verify")]


def test_a_missing_stored_file_is_named(approved: Approval, blob_store: Path) -> None:
    [file] = Attachment.objects.filter(revision=approved.revision)
    stored_path(blob_store, file.blob_id).unlink()
    ok, output = verify()
    assert not ok
    assert _problem_line(approved, file, ProblemCode.FILE_UNREADABLE) in output
    assert "(FileNotFoundError)" in output


def test_a_changed_recorded_blob_hash_is_named(approved: Approval) -> None:
    [file] = Attachment.objects.filter(revision=approved.revision)
    EncryptedBlob.objects.filter(pk=file.blob_id).update(sha256=hashlib.sha256(b"x").hexdigest())
    ok, output = verify()
    assert not ok
    assert _problem_line(approved, file, ProblemCode.FILE_CHANGED) in output


def test_a_changed_recorded_file_hash_is_named(approved: Approval) -> None:
    [file] = Attachment.objects.filter(revision=approved.revision)
    Attachment.objects.filter(pk=file.pk).update(sha256="0" * 64)
    ok, output = verify()
    assert not ok
    assert _problem_line(approved, file, ProblemCode.FILE_CHANGED) in output


def test_a_file_swapped_for_another_is_caught_by_the_manifest(approved: Approval) -> None:
    # Rows made to match another stored file (the clinic's scan): each file checks out
    # against its row, but the files no longer make the approved manifest.
    [file] = Attachment.objects.filter(revision=approved.revision)
    scan = first_scan(approved.case)
    Attachment.objects.filter(pk=scan.pk).update(revision=approved.revision)
    Attachment.objects.filter(pk=file.pk).update(revision=None)
    report = approvals_verify(public_keys=approval_public_keys())
    assert [(p.code, p.file_id) for p in report.problems] == [(ProblemCode.MANIFEST_CHANGED, None)]
    ok, output = verify()
    assert not ok
    assert _problem_line(approved, None, ProblemCode.MANIFEST_CHANGED) in output


def test_a_changed_revision_manifest_is_named(approved: Approval) -> None:
    Revision.objects.filter(pk=approved.revision_id).update(manifest_sha256="0" * 64)
    ok, output = verify()
    assert not ok
    assert _problem_line(approved, None, ProblemCode.REVISION_CHANGED) in output


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("approved_at", datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)),
        ("statement_version", "1999-01"),
        ("manifest_sha256", "0" * 64),
        ("signature", base64.b64encode(b"\0" * 64).decode()),
        ("signature", "not base64!"),
    ],
)
def test_a_changed_approval_field_breaks_its_signature(
    approved: Approval, field: str, value: object
) -> None:
    Approval.objects.filter(pk=approved.pk).update(**{field: value})
    ok, output = verify()
    assert not ok
    assert _problem_line(approved, None, ProblemCode.BAD_SIGNATURE) in output


def test_an_approval_moved_to_another_approver_breaks_its_signature(
    approved: Approval, team: Team
) -> None:
    Approval.objects.filter(pk=approved.pk).update(approver=team.staff.user)
    ok, output = verify()
    assert not ok
    assert _problem_line(approved, None, ProblemCode.BAD_SIGNATURE) in output


def test_an_unknown_key_id_is_named(approved: Approval) -> None:
    Approval.objects.filter(pk=approved.pk).update(key_id="0" * 16)
    ok, output = verify()
    assert not ok
    assert _problem_line(approved, None, ProblemCode.UNKNOWN_KEY) in output


def test_a_rotated_key_verifies_with_a_keys_folder(
    approved: Approval, settings: Settings, approval_key_path: Path, tmp_path: Path
) -> None:
    old_public = signing.public_key_pem(approval_signing_key())
    settings.CUSPID_APPROVAL_SIGNING_KEY = tmp_path / "rotated" / "approval_signing_key.pem"
    approval_signing_key()  # the new key, made on first use
    ok, output = verify()
    assert not ok
    assert ProblemCode.UNKNOWN_KEY.value in output
    keys = tmp_path / "published-keys"
    keys.mkdir()
    (keys / "2026.pem").write_text(old_public)
    (keys / "README.txt").write_text("not a key, not read")
    out = io.StringIO()
    call_command("approvals_verify", "--keys-dir", str(keys), stdout=out)
    assert out.getvalue().startswith("1 approvals verified (1 files), 2 public keys")
    # A private key file in the folder serves as well (its public half).
    (keys / "2026.pem").write_bytes(approval_key_path.read_bytes())
    call_command("approvals_verify", "--keys-dir", str(keys), stdout=io.StringIO())


def test_a_bad_keys_folder_is_refused(db: None, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="is not a folder"):
        call_command("approvals_verify", "--keys-dir", str(tmp_path / "nowhere"))
    (tmp_path / "bad.pem").write_bytes(
        generate_private_key(SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(CommandError, match=r"bad\.pem is not an Ed25519 key"):
        call_command("approvals_verify", "--keys-dir", str(tmp_path))


def test_verify_as_json(approved: Approval) -> None:
    [file] = Attachment.objects.filter(revision=approved.revision)
    out = io.StringIO()
    call_command("approvals_verify", "--json", stdout=out)
    assert json.loads(out.getvalue()) == {"ok": True, "approvals": 1, "files": 1, "problems": []}
    Attachment.objects.filter(pk=file.pk).update(sha256="0" * 64)
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("approvals_verify", "--json", stdout=out)
    document = json.loads(out.getvalue())
    assert document["ok"] is False
    assert document["problems"] == [
        {
            "approval_id": str(approved.id),
            "case_reference": approved.case.reference,
            "revision_number": 2,
            "file_id": str(file.id),
            "code": "file_changed",
            "detail": "the file does not hash to what was approved",
        },
    ]


def test_verify_report_checks_every_approval(team: Team) -> None:
    first = approve(team.clinician, latest_revision(in_review(team)))
    second = approve(team.clinician, latest_revision(in_review(team)))
    Approval.objects.filter(pk=first.pk).update(signature=second.signature)
    report = approvals_verify(public_keys=approval_public_keys())
    assert (report.approvals, report.files, report.ok) == (2, 2, False)
    assert [(p.approval_id, p.code) for p in report.problems] == [
        (first.id, ProblemCode.BAD_SIGNATURE)
    ]


# --- the pure parts --------------------------------------------------------------------------


def _facts(version: str = CURRENT_STATEMENT_VERSION) -> ApprovalFacts:
    return ApprovalFacts(
        approval_id=uuid.uuid4(),
        case_id=uuid.uuid4(),
        case_reference="C-00042",
        revision_id=uuid.uuid4(),
        revision_number=3,
        manifest_sha256="a" * 64,
        approver_id=uuid.uuid4(),
        approved_at=datetime.datetime(2026, 12, 1, 9, 30, 0, 123456, tzinfo=datetime.UTC),
        statement_version=version,
    )


def test_the_statement_of_each_version() -> None:
    assert statement_text("2026-12", revision_number=3, case_reference="C-00042") == (
        "I have reviewed design revision 3 of case C-00042 and approve it for production as shown."
    )
    assert CURRENT_STATEMENT_VERSION in approvals.STATEMENTS
    with pytest.raises(UnknownStatement):
        statement_text("1999-01", revision_number=1, case_reference="C-00001")


def test_the_message_is_canonical_and_versioned() -> None:
    facts = _facts()
    message = approvals.approval_message(facts)
    document = json.loads(message)
    assert message == json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    assert document["v"] == MESSAGE_VERSION
    assert document["approved_at"] == "2026-12-01T09:30:00.123456+00:00"
    key = Ed25519PrivateKey.generate()
    signature = approvals.approval_sign(key, facts)
    assert approval_signature_valid(key.public_key(), signature, facts)
    other = Ed25519PrivateKey.generate().public_key()
    assert not approval_signature_valid(other, signature, facts)
    assert not approval_signature_valid(key.public_key(), signature, _facts("1999-01"))
    assert not approval_signature_valid(key.public_key(), "%%%", facts)


def test_key_files(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "k.pem"
    with pytest.raises(ImproperlyConfigured, match="CUSPID_X: no test key at"):
        signing.load_key_file(path, create=False, setting="CUSPID_X", purpose="test key")
    key = signing.load_key_file(path, create=True, setting="CUSPID_X", purpose="test key")
    signing.create_key_file(path)  # a second process racing: the first key stays
    again = signing.load_key_file(path, create=False, setting="CUSPID_X", purpose="test key")
    assert signing.public_key_id(again.public_key()) == signing.public_key_id(key.public_key())
    assert signing.load_public_key(path.read_bytes()) is not None
    pem = signing.public_key_pem(key.public_key()).encode()
    assert signing.public_key_id(signing.load_public_key(pem)) == signing.public_key_id(
        key.public_key()
    )
    ec = generate_private_key(SECP256R1())
    ec_private = ec.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    ec_public = ec.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for pem_bytes in (ec_private, ec_public):
        with pytest.raises(ValueError, match="not an Ed25519 key"):
            signing.load_public_key(pem_bytes)
    for content in (ec_private, b"garbage"):
        path.write_bytes(content)
        with pytest.raises(ImproperlyConfigured, match="is not an Ed25519 key"):
            signing.load_key_file(path, create=False, setting="CUSPID_X", purpose="test key")


# --- the page --------------------------------------------------------------------------------


def _client(signed_in: Callable[[User], Client], membership: Membership, *, fresh: bool) -> Client:
    client = signed_in(membership.user)
    if fresh:
        session = client.session
        mark_authenticated(session)
        session.save()
    return client


def _review(client: Client, revision: Revision) -> str:
    response = client.get(f"/revisions/{revision.id}/")
    assert response.status_code == 200, response.content.decode()[:2000]
    return response.content.decode()


def test_the_clinician_reads_the_statement_and_approves_on_the_review_page(
    team: Team, signed_in: Callable[[User], Client]
) -> None:
    case = in_review(team)
    revision = latest_revision(case)
    client = _client(signed_in, team.clinician, fresh=False)
    page = _review(client, revision)
    assert f'action="/revisions/{revision.id}/approve/"' in page
    assert 'name="statement_version" value="2026-12"' in page
    assert (
        f"I have reviewed design revision 1 of case {case.reference} and approve it for "
        "production as shown."
    ) in page
    assert "Approve revision 1" in page
    assert "You will be asked to confirm your identity first" in page

    # Without a recent sign-in: to the step-up page, which comes back here.
    response = client.post(f"/revisions/{revision.id}/approve/", {"statement_version": "2026-12"})
    assert response.status_code == 302
    assert response["Location"] == f"/account/step-up/?next=%2Frevisions%2F{revision.id}%2F"
    assert not Approval.objects.exists()

    client = _client(signed_in, team.clinician, fresh=True)
    assert "You will be asked to confirm your identity first" not in _review(client, revision)
    response = client.post(
        f"/revisions/{revision.id}/approve/", {"statement_version": "2026-12"}, follow=True
    )
    assert response.redirect_chain == [(f"/revisions/{revision.id}/", 302)]
    page = response.content.decode()
    assert "Revision 1 approved. Your approval is signed; the lab can produce it." in page
    approval = Approval.objects.get()
    assert f"Approved by {team.clinician.user.display_name} on" in page
    assert "Verified" in page
    assert approval.key_id in page
    assert f'action="/revisions/{revision.id}/approve/"' not in page


def test_a_refusal_the_page_can_explain_comes_back_as_a_message(
    team: Team, signed_in: Callable[[User], Client]
) -> None:
    case = in_review(team)
    first = latest_revision(case)
    client = _client(signed_in, team.clinician, fresh=True)
    response = client.post(
        f"/revisions/{first.id}/approve/", {"statement_version": "1999-01"}, follow=True
    )
    assert "Not approved. Approve the statement shown on the page" in response.content.decode()
    second = second_round(team, case)
    # The superseded revision's page offers no button; the latest's does.
    assert "Approve revision 1" not in _review(client, first)
    assert "Approve revision 2" in _review(client, second)
    response = client.post(
        f"/revisions/{first.id}/approve/", {"statement_version": "2026-12"}, follow=True
    )
    assert "Not approved. Revision 1 is superseded by revision 2" in response.content.decode()
    assert not Approval.objects.exists()


def test_others_see_the_approval_but_never_the_button(
    team: Team, signed_in: Callable[[User], Client]
) -> None:
    case = in_review(team)
    revision = latest_revision(case)
    for member in (team.staff, team.designer):
        page = _review(_client(signed_in, member, fresh=True), revision)
        assert "/approve/" not in page
        assert "Approved by" not in page
    approval = approve(team.clinician, revision)
    for member in (team.staff, team.designer, team.lab_staff):
        page = _review(_client(signed_in, member, fresh=True), revision)
        assert f"Approved by {team.clinician.user.display_name} on" in page
        assert approval.key_id in page
        assert "/approve/" not in page
    # A record changed after signing shows that it does not verify.
    Approval.objects.filter(pk=approval.pk).update(manifest_sha256="0" * 64)
    page = _review(_client(signed_in, team.staff, fresh=True), revision)
    assert "Does not verify" in page


def test_the_case_page_leads_the_clinician_to_the_latest_revision(
    team: Team, signed_in: Callable[[User], Client]
) -> None:
    case = in_review(team)
    second = second_round(team, case)
    response = _client(signed_in, team.clinician, fresh=True).get(f"/cases/{case.id}/")
    page = response.content.decode()
    assert f'<a class="button" href="/revisions/{second.id}/">Review and approve</a>' in page
    assert 'value="approve"' not in page


# --- the demo --------------------------------------------------------------------------------

APPROVED_AND_LATER = (
    State.APPROVED,
    State.IN_PRODUCTION,
    State.SHIPPED,
    State.DELIVERED,
    State.CLOSED,
)


def test_every_approved_demo_revision_has_a_valid_signed_approval(
    db: None, settings: Settings, tmp_path: Path
) -> None:
    settings.VAR_DIR = tmp_path
    call_command("seed_demo", stdout=io.StringIO())
    approved = Case.objects.filter(status__in=APPROVED_AND_LATER)
    assert approved.count() >= len(APPROVED_AND_LATER)
    for case in approved:
        [approval] = Approval.objects.filter(case=case)
        assert approval.revision_id == latest_revision(case).id
    assert Approval.objects.count() == approved.count()
    ok, output = verify()
    assert ok, output
