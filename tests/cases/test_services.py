"""Case services: numbering, details, sending, sides, step-up, revisions, files, the full path.

Every write goes through the real services (policy, workflow, encryption, audit) on the test
database; audit events are read straight from the audit table.
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pytest
from django.conf import settings

from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.audit.models import AuditEvent
from cuspid.cases import workflow
from cuspid.cases.approvals import CURRENT_STATEMENT_VERSION as STATEMENT_VERSION
from cuspid.cases.enums import AttachmentKind, TimelineEntry
from cuspid.cases.errors import InvalidTransition
from cuspid.cases.files import InspectedFile, UnsupportedFile, inspect_upload
from cuspid.cases.manifest import manifest_sha256
from cuspid.cases.models import Approval, Attachment, Case, CaseEvent, Revision
from cuspid.cases.policies import (
    access_attachment,
    access_case,
    access_revision,
    side_of,
    visible_cases,
)
from cuspid.cases.selectors import (
    attachment_list_for,
    case_list_for,
    case_timeline_for,
    revision_list_for,
)
from cuspid.cases.services import (
    ACTION_AUDIT,
    ACTION_PERMS,
    MAX_FILES_PER_REVISION,
    CaseDetails,
    Upload,
    attachment_add,
    case_create,
    case_facts,
    case_send,
    case_transition,
    case_update,
    revision_create,
)
from cuspid.cases.services.approvals import revision_approve
from cuspid.cases.workflow import Action, Side, State
from cuspid.core import clock
from cuspid.core.errors import InvalidInput, NotFound, PermissionDenied, StepUpRequired
from cuspid.patients.models import Patient
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.enums import ConnectionStatus, Role
from cuspid.tenancy.models import Membership, Organization
from cuspid.web.demo_scans import arch_stl, binary_stl
from tests.factories import make_lab, make_lab_connection
from tests.factories.approvals import approve, approve_case, latest_revision
from tests.factories.cases import (
    actor_of,
    first_scan,
    make_case,
    make_patient,
    make_revision,
    scan_upload,
    send_case,
    transition,
)

MemberOf = Callable[[Organization, Role], Membership]

CROWN = CaseDetails(case_type="crown", teeth=[36], material="zirconia", shade="A2")


@dataclass(frozen=True)
class Team:
    """A clinic and a lab connected to it, with one member per working role and a patient."""

    clinic: Organization
    lab: Organization
    clinician: Membership
    staff: Membership
    designer: Membership
    lab_staff: Membership
    patient: Patient


@pytest.fixture
def team(clinic: Organization, lab: Organization, connection_: object, member_of: MemberOf) -> Team:
    clinician = member_of(clinic, Role.CLINICIAN)
    return Team(
        clinic=clinic,
        lab=lab,
        clinician=clinician,
        staff=member_of(clinic, Role.STAFF),
        designer=member_of(lab, Role.DESIGNER),
        lab_staff=member_of(lab, Role.LAB_STAFF),
        patient=make_patient(clinician),
    )


def mesh_upload(size_mm: float = 10.0, name: str = "crown-36.stl") -> Upload:
    """A tiny valid scan (a tetrahedron ``size_mm`` across) as a binary STL upload."""
    vertices = np.array(
        [[0, 0, 0], [size_mm, 0, 0], [0, size_mm, 0], [0, 0, size_mm]], dtype=np.float64
    )
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]], dtype=np.int32)
    return Upload(file=io.BytesIO(binary_stl(vertices, faces)), filename=name)


def png_upload() -> Upload:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 180, 160)).save(out, format="PNG")
    out.seek(0)
    return Upload(file=out, filename="smile.png")


def fresh(case: Case) -> Case:
    return Case.objects.select_related("organization", "shared_with_lab").get(pk=case.pk)


def entries(case: Case) -> list[str]:
    return list(case_timeline_for(case=case).values_list("entry", flat=True))


def case_audit(case: Case) -> list[str]:
    """The case actions audited for the case's patient, oldest first."""
    return list(
        AuditEvent.objects.filter(subject_patient=str(case.patient_id), action__startswith="case:")
        .order_by("sequence")
        .values_list("action", flat=True)
    )


def advance(team: Team, case: Case, to: State) -> Case:
    """Drive a draft case with a scan along the happy path until it reaches ``to``."""
    case = fresh(case)
    steps: list[tuple[State, Callable[[Case], Case]]] = [
        (State.SUBMITTED, lambda c: send_case(team.clinician, c, team.lab)),
        (State.ACCEPTED, lambda c: transition(team.designer, c, "accept")),
        (State.IN_DESIGN, lambda c: make_revision(team.designer, c).case),
        (State.AWAITING_REVIEW, lambda c: transition(team.designer, c, "send_for_review")),
        (State.APPROVED, lambda c: approve_case(team.clinician, c)),
        (State.IN_PRODUCTION, lambda c: transition(team.lab_staff, c, "start_production")),
        (State.SHIPPED, lambda c: transition(team.lab_staff, c, "ship")),
        (State.DELIVERED, lambda c: transition(team.staff, c, "confirm_delivery")),
        (State.CLOSED, lambda c: transition(team.staff, c, "close")),
    ]
    for state, step in steps:
        if case.status == to:
            break
        case = fresh(step(case))
        assert case.status == state
    assert case.status == to
    return case


def unchanged(case: Case, status: State, lab: Organization | None) -> None:
    stored = fresh(case)
    assert stored.status == status
    assert stored.shared_with_lab_id == (lab.id if lab else None)


# --- the tables --------------------------------------------------------------------------------


def test_every_action_has_a_permission_and_an_audit_action() -> None:
    assert set(ACTION_PERMS) == set(Action)
    assert set(ACTION_AUDIT) == set(Action)
    for action, audit in ACTION_AUDIT.items():
        assert audit.value == f"case:{action.value}"


# --- case_create -------------------------------------------------------------------------------


def test_cases_are_numbered_per_clinic(
    team: Team, other_clinic: Organization, member_of: MemberOf
) -> None:
    actor = actor_of(team.clinician)
    first = case_create(actor=actor, patient=team.patient, details=CROWN)
    second = case_create(actor=actor, patient=make_patient(team.clinician), details=CROWN)
    stranger = member_of(other_clinic, Role.CLINICIAN)
    elsewhere = case_create(actor=actor_of(stranger), patient=make_patient(stranger), details=CROWN)
    assert (first.number, second.number, elsewhere.number) == (1, 2, 1)
    assert (first.reference, second.reference) == ("C-00001", "C-00002")


def test_create_opens_a_draft_with_one_timeline_entry_and_one_audit_event(team: Team) -> None:
    details = CaseDetails(
        case_type="bridge",
        teeth=["46", 44, 45, 44],
        material="pfm",
        shade=" A3 ",
        due_date=clock.now().date(),
        priority="rush",
        notes="  Tight contacts.  ",
    )
    case = case_create(actor=actor_of(team.staff), patient=team.patient, details=details)
    stored = fresh(case)
    assert stored.status == State.DRAFT
    assert stored.shared_with_lab_id is None
    assert stored.teeth == [44, 45, 46]
    assert (stored.shade, stored.priority, stored.notes) == ("A3", "rush", "Tight contacts.")
    assert stored.organization_id == team.clinic.id
    assert stored.created_by_id == team.staff.user.pk
    assert entries(case) == [TimelineEntry.CREATED]
    [event] = AuditEvent.objects.filter(
        subject_patient=str(team.patient.id), action__startswith="case:"
    )
    assert event.action == AuditAction.Case.Created
    assert event.target_id == str(case.id)
    assert event.outcome == Outcome.ALLOWED


def test_empty_notes_are_stored_as_null(team: Team) -> None:
    case = case_create(
        actor=actor_of(team.clinician),
        patient=team.patient,
        details=CaseDetails(case_type="night_guard", teeth=[], material="acrylic", notes="  "),
    )
    assert fresh(case).notes is None
    assert fresh(case).teeth == []


BAD_CASES: dict[str, CaseDetails] = {
    "not a tooth": CaseDetails(case_type="crown", teeth=[10], material="zirconia"),
    "primary tooth 56": CaseDetails(case_type="crown", teeth=["56"], material="zirconia"),
    "no teeth for a crown": CaseDetails(case_type="crown", teeth=[], material="zirconia"),
    "one-tooth bridge": CaseDetails(case_type="bridge", teeth=[36, "36"], material="zirconia"),
    "past due date": CaseDetails(
        case_type="crown",
        teeth=[36],
        material="zirconia",
        due_date=datetime.datetime.now(tz=datetime.UTC).date() - datetime.timedelta(days=2),
    ),
    "unknown material": CaseDetails(case_type="crown", teeth=[36], material="unobtainium"),
    "unknown type": CaseDetails(case_type="denture", teeth=[36], material="acrylic"),
    "unknown priority": CaseDetails(
        case_type="crown", teeth=[36], material="zirconia", priority="asap"
    ),
    "long shade": CaseDetails(case_type="crown", teeth=[36], material="zirconia", shade="A" * 33),
    "long notes": CaseDetails(case_type="crown", teeth=[36], material="zirconia", notes="x" * 4001),
}


@pytest.mark.parametrize("details", BAD_CASES.values(), ids=BAD_CASES.keys())
def test_bad_details_are_refused_and_nothing_is_stored(details: CaseDetails, team: Team) -> None:
    with pytest.raises(InvalidInput):
        case_create(actor=actor_of(team.clinician), patient=team.patient, details=details)
    assert not Case.objects.exists()
    assert not CaseEvent.objects.exists()
    assert case_audit(Case(patient=team.patient)) == []


def test_a_tooth_in_unicode_digits_is_invalid_input_not_a_crash(team: Team) -> None:
    # "²" passes str.isdigit() but not int(): parse_teeth must answer InvalidTooth (a 422).
    with pytest.raises(InvalidInput):
        case_create(
            actor=actor_of(team.clinician),
            patient=team.patient,
            details=CaseDetails(case_type="crown", teeth=["²"], material="zirconia"),
        )


def test_only_clinic_care_roles_open_cases(
    team: Team, other_clinic: Organization, member_of: MemberOf
) -> None:
    for member in (team.designer, team.lab_staff, member_of(team.clinic, Role.ORG_ADMIN)):
        with pytest.raises(PermissionDenied):
            case_create(actor=actor_of(member), patient=team.patient, details=CROWN)
    with pytest.raises(PermissionDenied):
        case_create(
            actor=actor_of(member_of(other_clinic, Role.CLINICIAN)),
            patient=team.patient,
            details=CROWN,
        )
    assert not Case.objects.exists()


# --- case_update -------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [State.DRAFT, State.SUBMITTED])
def test_details_change_until_the_lab_accepts(state: State, team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), state)
    audited = len(case_audit(case))
    changed = CaseDetails(case_type="bridge", teeth=[35, 36, 37], material="gold", notes="New")
    case_update(actor=actor_of(team.staff), case=case, details=changed)
    stored = fresh(case)
    assert (stored.case_type, stored.teeth, stored.material, stored.notes) == (
        "bridge",
        [35, 36, 37],
        "gold",
        "New",
    )
    assert stored.status == state
    assert entries(case)[-1] == TimelineEntry.UPDATED
    assert case_audit(case)[audited:] == [AuditAction.Case.Updated]


def test_details_are_frozen_once_accepted(team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.ACCEPTED)
    audited = len(case_audit(case))
    with pytest.raises(InvalidTransition) as refused:
        case_update(
            actor=actor_of(team.clinician),
            case=case,
            details=CaseDetails(case_type="crown", teeth=[46], material="gold"),
        )
    assert refused.value.status == 409
    assert refused.value.body()["status"] == "accepted"
    assert refused.value.allowed == workflow.allowed_actions(State.ACCEPTED, Side.CLINIC)
    stored = fresh(case)
    assert (stored.teeth, stored.material) == ([36], "zirconia")
    assert len(case_audit(case)) == audited


def test_the_lab_cannot_change_details(team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.SUBMITTED)
    for member in (team.designer, team.lab_staff):
        with pytest.raises(PermissionDenied):
            case_update(actor=actor_of(member), case=case, details=CROWN)


# --- case_send ---------------------------------------------------------------------------------


def test_send_shares_the_case_and_submits_it(team: Team) -> None:
    case = make_case(team.clinician, team.patient)
    sent = case_send(actor=actor_of(team.clinician), case=case, lab_id=team.lab.id)
    assert sent.status == State.SUBMITTED
    unchanged(case, State.SUBMITTED, team.lab)
    event = CaseEvent.objects.get(case=case, entry=Action.SUBMIT)
    assert (event.from_status, event.to_status) == ("draft", "submitted")
    assert event.organization_id == team.clinic.id
    assert case_audit(case)[-1] == AuditAction.Case.Submitted
    assert case_audit(case).count(AuditAction.Case.Submitted) == 1


@pytest.mark.parametrize("status", [ConnectionStatus.PENDING, ConnectionStatus.SUSPENDED])
def test_send_needs_an_active_connection(status: str, team: Team) -> None:
    case = make_case(team.clinician, team.patient)
    waiting = make_lab()
    make_lab_connection(clinic=team.clinic, lab=waiting, status=status)
    with pytest.raises(NotFound):
        case_send(actor=actor_of(team.clinician), case=case, lab_id=waiting.id)
    unchanged(case, State.DRAFT, None)


def test_send_refuses_labs_the_clinic_is_not_connected_to(
    team: Team, other_clinic: Organization
) -> None:
    case = make_case(team.clinician, team.patient)
    # The lab works for another clinic, not for this one.
    theirs = make_lab()
    make_lab_connection(clinic=other_clinic, lab=theirs)
    for lab_id in (theirs.id, other_clinic.id, team.clinic.id, uuid.uuid4()):
        with pytest.raises(NotFound):
            case_send(actor=actor_of(team.clinician), case=case, lab_id=lab_id)
    unchanged(case, State.DRAFT, None)
    assert entries(case)[-1] == TimelineEntry.ATTACHMENT_ADDED


def test_send_needs_a_scan(team: Team) -> None:
    case = make_case(team.clinician, team.patient, scans=0)
    with pytest.raises(InvalidTransition) as refused:
        case_send(actor=actor_of(team.clinician), case=case, lab_id=team.lab.id)
    assert "scan" in refused.value.detail
    unchanged(case, State.DRAFT, None)
    assert not CaseEvent.objects.filter(case=case, entry=Action.SUBMIT).exists()


def test_a_photo_is_not_a_scan(team: Team) -> None:
    case = make_case(team.clinician, team.patient, scans=0)
    attachment_add(actor=actor_of(team.clinician), case=case, upload=png_upload())
    assert not case_facts(case).has_scan
    with pytest.raises(InvalidTransition):
        case_send(actor=actor_of(team.clinician), case=case, lab_id=team.lab.id)


def test_staff_and_the_lab_cannot_send(team: Team) -> None:
    case = make_case(team.clinician, team.patient)
    for member in (team.staff, team.designer, team.lab_staff):
        with pytest.raises(PermissionDenied):
            case_send(actor=actor_of(member), case=case, lab_id=team.lab.id)
    unchanged(case, State.DRAFT, None)


def test_a_sent_case_cannot_be_sent_again(team: Team, member_of: MemberOf) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.SUBMITTED)
    second = make_lab()
    make_lab_connection(clinic=team.clinic, lab=second)
    with pytest.raises(InvalidTransition):
        case_send(actor=actor_of(team.clinician), case=case, lab_id=second.id)
    unchanged(case, State.SUBMITTED, team.lab)
    assert visible_cases(actor_of(member_of(second, Role.DESIGNER))).count() == 0


# --- who sees the case -------------------------------------------------------------------------


def test_the_lab_sees_the_case_only_while_it_is_shared(team: Team) -> None:
    designer = actor_of(team.designer)
    case = make_case(team.clinician, team.patient)
    with pytest.raises(NotFound):
        access_case(designer, case.id)
    case = advance(team, case, State.SUBMITTED)
    assert access_case(designer, case.id) == case
    assert list(visible_cases(designer)) == [case]
    assert [c.id for c in case_list_for(actor=designer)] == [case.id]

    transition(team.clinician, case, "revoke_share")
    unchanged(case, State.DRAFT, None)
    with pytest.raises(NotFound):
        access_case(designer, case.id)
    assert list(visible_cases(designer)) == []
    # The clinic still has it.
    assert access_case(actor_of(team.clinician), case.id) == case


def test_a_declined_case_leaves_the_lab_and_can_go_to_another(
    team: Team, member_of: MemberOf
) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.SUBMITTED)
    transition(team.lab_staff, case, "decline", reason="We do not make zirconia bridges.")
    unchanged(case, State.DECLINED, None)
    for member in (team.designer, team.lab_staff):
        with pytest.raises(NotFound):
            access_case(actor_of(member), case.id)
    decline = CaseEvent.objects.get(case=case, entry=Action.DECLINE)
    assert decline.note == "We do not make zirconia bridges."

    second = make_lab()
    make_lab_connection(clinic=team.clinic, lab=second)
    send_case(team.clinician, fresh(case), second)
    unchanged(case, State.SUBMITTED, second)
    assert access_case(actor_of(member_of(second, Role.DESIGNER)), case.id) == case
    with pytest.raises(NotFound):
        access_case(actor_of(team.designer), case.id)


def test_other_organisations_never_see_the_case(
    team: Team, other_clinic: Organization, member_of: MemberOf
) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.SUBMITTED)
    outsiders = [
        member_of(other_clinic, Role.CLINICIAN),
        member_of(make_lab(), Role.DESIGNER),
        member_of(team.clinic, Role.PATIENT),
    ]
    for member in outsiders:
        actor = actor_of(member)
        with pytest.raises(NotFound):
            access_case(actor, case.id)
        assert list(case_list_for(actor=actor)) == []
        assert side_of(actor, case) is (
            Side.CLINIC if member.organization_id == team.clinic.id else None
        )


# --- sides and permissions ---------------------------------------------------------------------


def test_the_clinic_cannot_accept(team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.SUBMITTED)
    for member in (team.clinician, team.staff):
        with pytest.raises(PermissionDenied):
            transition(member, case, "accept")
    unchanged(case, State.SUBMITTED, team.lab)


def test_the_lab_cannot_approve(team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.AWAITING_REVIEW)
    for member in (team.designer, team.lab_staff):
        with pytest.raises(PermissionDenied):
            approve(member, latest_revision(case))
    unchanged(case, State.AWAITING_REVIEW, team.lab)


def test_staff_cannot_approve(team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.AWAITING_REVIEW)
    with pytest.raises(PermissionDenied):
        approve(team.staff, latest_revision(case))


def test_a_designer_cannot_ship_but_lab_staff_can(team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.IN_PRODUCTION)
    with pytest.raises(PermissionDenied):
        transition(team.designer, case, "ship")
    unchanged(case, State.IN_PRODUCTION, team.lab)
    transition(team.lab_staff, case, "ship")
    unchanged(case, State.SHIPPED, team.lab)


def test_lab_staff_cannot_design(team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.ACCEPTED)
    with pytest.raises(PermissionDenied):
        transition(team.lab_staff, case, "start_design")
    with pytest.raises(PermissionDenied):
        revision_create(actor=actor_of(team.lab_staff), case=case, uploads=[mesh_upload()])
    unchanged(case, State.ACCEPTED, team.lab)


def test_a_role_held_on_the_wrong_side_is_refused(team: Team, member_of: MemberOf) -> None:
    # Membership rules keep clinic roles out of labs; the side check does not rely on them.
    misassigned = member_of(team.lab, Role.CLINICIAN)
    case = advance(team, make_case(team.clinician, team.patient), State.AWAITING_REVIEW)
    with pytest.raises(PermissionDenied):
        approve(misassigned, latest_revision(case))
    for action in ("cancel", "revoke_share"):
        with pytest.raises(PermissionDenied):
            transition(misassigned, case, action)
    unchanged(case, State.AWAITING_REVIEW, team.lab)


def test_a_lab_the_case_is_not_shared_with_cannot_act(team: Team, member_of: MemberOf) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.SUBMITTED)
    stranger = member_of(make_lab(), Role.LAB_STAFF)
    with pytest.raises(PermissionDenied):
        transition(stranger, case, "accept")
    unchanged(case, State.SUBMITTED, team.lab)


def test_a_refused_transition_says_what_this_side_may_do(team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.ACCEPTED)
    with pytest.raises(InvalidTransition) as refused:
        transition(team.designer, case, "accept")
    assert refused.value.allowed == (Action.START_DESIGN,)
    assert refused.value.body()["allowed_actions"] == ["start_design"]
    with pytest.raises(InvalidTransition) as clinic_refused:
        transition(team.clinician, case, "close")
    assert clinic_refused.value.allowed == (Action.CANCEL, Action.REVOKE_SHARE)


def test_unknown_actions_and_submit_are_invalid_input(team: Team) -> None:
    case = make_case(team.clinician, team.patient)
    for action in ("teleport", "", "submit"):
        with pytest.raises(InvalidInput):
            transition(team.clinician, case, action)
    unchanged(case, State.DRAFT, None)


# --- step-up for approval ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "age", [None, datetime.timedelta(seconds=settings.ACCOUNT_REAUTHENTICATION_TIMEOUT + 5)]
)
def test_approval_needs_a_recent_sign_in(age: datetime.timedelta | None, team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.AWAITING_REVIEW)
    audited = len(case_audit(case))
    at = None if age is None else clock.now() - age
    stale = Actor.of(team.clinician, authenticated_at=at)
    with pytest.raises(StepUpRequired):
        revision_approve(
            actor=stale, revision=latest_revision(case), statement_version=STATEMENT_VERSION
        )
    unchanged(case, State.AWAITING_REVIEW, team.lab)
    assert case_audit(case)[audited:] == [AuditAction.Case.Approved]  # the refusal, denied
    # Other clinic steps need no step-up.
    case_transition(
        actor=stale, case=fresh(case), action="request_changes", reason="Open the contact."
    )
    unchanged(case, State.CHANGES_REQUESTED, team.lab)


def test_a_fresh_sign_in_approves(team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.AWAITING_REVIEW)
    just_now = Actor.of(
        team.clinician, authenticated_at=clock.now() - datetime.timedelta(minutes=1)
    )
    revision_approve(
        actor=just_now, revision=latest_revision(case), statement_version=STATEMENT_VERSION
    )
    unchanged(case, State.APPROVED, team.lab)
    assert case_audit(case)[-1] == AuditAction.Case.Approved


# --- reasons -----------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   \n"])
def test_declining_needs_a_reason(reason: str, team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.SUBMITTED)
    with pytest.raises(InvalidInput):
        transition(team.designer, case, "decline", reason=reason)
    unchanged(case, State.SUBMITTED, team.lab)


@pytest.mark.parametrize("reason", ["", "   "])
def test_requesting_changes_needs_a_reason(reason: str, team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.AWAITING_REVIEW)
    with pytest.raises(InvalidInput):
        transition(team.clinician, case, "request_changes", reason=reason)
    unchanged(case, State.AWAITING_REVIEW, team.lab)


def test_a_reason_is_at_most_4000_characters_and_kept_on_the_timeline(team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.AWAITING_REVIEW)
    with pytest.raises(InvalidInput):
        transition(team.clinician, case, "request_changes", reason="x" * 4001)
    transition(team.clinician, case, "request_changes", reason="  Lower the occlusion.  ")
    event = CaseEvent.objects.get(case=case, entry=Action.REQUEST_CHANGES)
    assert event.note == "Lower the occlusion."
    assert (event.from_status, event.to_status) == ("awaiting_review", "changes_requested")


def test_a_reason_given_where_none_is_needed_is_kept(team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.SUBMITTED)
    transition(team.clinician, case, "cancel", reason="Patient moved away.")
    assert CaseEvent.objects.get(case=case, entry=Action.CANCEL).note == "Patient moved away."


# --- revisions ---------------------------------------------------------------------------------


def test_a_revision_in_an_accepted_case_starts_the_design(team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.ACCEPTED)
    audited = len(case_audit(case))
    timeline = len(entries(case))
    revision = revision_create(
        actor=actor_of(team.designer),
        case=case,
        uploads=[mesh_upload(10.0, "a.stl"), mesh_upload(12.0, "b.stl")],
        note=" First proposal. ",
    )
    unchanged(case, State.IN_DESIGN, team.lab)
    assert case_audit(case)[audited:] == [
        AuditAction.Case.DesignStarted,
        AuditAction.Case.RevisionCreated,
    ]
    assert entries(case)[timeline:] == [Action.START_DESIGN, TimelineEntry.REVISION_CREATED]
    created = CaseEvent.objects.get(case=case, entry=TimelineEntry.REVISION_CREATED)
    assert created.revision_id == revision.id
    started = AuditEvent.objects.get(
        subject_patient=str(case.patient_id), action=AuditAction.Case.RevisionCreated
    )
    assert started.target_type == "revision"
    assert started.target_id == str(revision.id)

    stored = Revision.objects.get(pk=revision.pk)
    assert stored.number == 1
    assert stored.note == "First proposal."
    assert stored.author_id == team.designer.user.pk
    assert stored.organization_id == team.lab.id
    files = list(stored.files.all())
    assert len(files) == 2
    assert {f.filename for f in files} == {"a.stl", "b.stl"}
    assert all(f.kind == "scan" and f.case_id == case.id for f in files)
    assert stored.manifest_sha256 == manifest_sha256((f.sha256, f.size) for f in files)
    # The revision's files are not the clinic's files.
    assert first_scan(case).revision_id is None


def test_revisions_are_numbered_and_a_change_request_needs_a_new_one(team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.AWAITING_REVIEW)
    transition(team.clinician, case, "request_changes", reason="Shorter crown.")
    assert case_facts(case).revisions_since_changes == 0
    transition(team.designer, case, "start_design")
    with pytest.raises(InvalidTransition) as refused:
        transition(team.designer, case, "send_for_review")
    assert "revision" in refused.value.detail
    unchanged(case, State.IN_DESIGN, team.lab)

    audited = len(case_audit(case))
    second = revision_create(
        actor=actor_of(team.designer), case=fresh(case), uploads=[mesh_upload(9.0)]
    )
    # Already in design: one event, the revision.
    assert case_audit(case)[audited:] == [AuditAction.Case.RevisionCreated]
    third = revision_create(
        actor=actor_of(team.designer), case=fresh(case), uploads=[mesh_upload(8.0)]
    )
    assert [r.number for r in Revision.objects.filter(case=case).order_by("number")] == [1, 2, 3]
    assert (second.number, third.number) == (2, 3)
    assert case_facts(case) == workflow.CaseFacts(
        has_scan=True, has_lab=True, revision_count=3, revisions_since_changes=2
    )
    transition(team.designer, case, "send_for_review")
    unchanged(case, State.AWAITING_REVIEW, team.lab)


def test_a_revision_after_changes_requested_starts_the_design_again(team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.AWAITING_REVIEW)
    transition(team.clinician, case, "request_changes", reason="Shorter crown.")
    audited = len(case_audit(case))
    make_revision(team.designer, fresh(case), note="")
    unchanged(case, State.IN_DESIGN, team.lab)
    assert case_audit(case)[audited:] == [
        AuditAction.Case.DesignStarted,
        AuditAction.Case.RevisionCreated,
    ]
    assert Revision.objects.get(case=case, number=2).note is None


@pytest.mark.parametrize("state", [State.SUBMITTED, State.AWAITING_REVIEW, State.APPROVED])
def test_revisions_are_refused_outside_the_design(state: State, team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), state)
    revisions = Revision.objects.filter(case=case).count()
    with pytest.raises(InvalidTransition) as refused:
        revision_create(actor=actor_of(team.designer), case=case, uploads=[mesh_upload()])
    assert refused.value.allowed == workflow.allowed_actions(state, Side.LAB)
    assert Revision.objects.filter(case=case).count() == revisions
    unchanged(case, state, team.lab)


def test_the_clinic_cannot_upload_revisions(team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.ACCEPTED)
    for member in (team.clinician, team.staff):
        with pytest.raises(PermissionDenied):
            revision_create(actor=actor_of(member), case=case, uploads=[mesh_upload()])
    assert not Revision.objects.exists()


@pytest.mark.parametrize("count", [0, MAX_FILES_PER_REVISION + 1])
def test_a_revision_holds_one_to_twenty_files(count: int, team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.ACCEPTED)
    uploads = [mesh_upload(5.0 + n) for n in range(count)]
    with pytest.raises(InvalidInput):
        revision_create(actor=actor_of(team.designer), case=case, uploads=uploads)
    assert not Revision.objects.exists()
    unchanged(case, State.ACCEPTED, team.lab)


def test_a_revision_note_is_at_most_4000_characters(team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.ACCEPTED)
    with pytest.raises(InvalidInput):
        revision_create(
            actor=actor_of(team.designer), case=case, uploads=[mesh_upload()], note="x" * 4001
        )
    assert not Revision.objects.exists()


def test_a_refused_file_stores_no_revision_and_starts_nothing(team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.ACCEPTED)
    attachments = Attachment.objects.count()
    audited = len(case_audit(case))
    with pytest.raises(UnsupportedFile):
        revision_create(
            actor=actor_of(team.designer), case=case, uploads=[mesh_upload(), png_upload()]
        )
    assert not Revision.objects.exists()
    assert Attachment.objects.count() == attachments
    assert len(case_audit(case)) == audited
    unchanged(case, State.ACCEPTED, team.lab)


def test_a_stored_revision_cannot_be_saved_again(team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.IN_DESIGN)
    revision = Revision.objects.get(case=case)
    before = (revision.number, revision.manifest_sha256, revision.note, revision.updated_at)
    revision.manifest_sha256 = "0" * 64
    revision.note = "rewritten"
    with pytest.raises(ValueError, match="immutable"):
        revision.save()
    stored = Revision.objects.get(pk=revision.pk)
    assert (stored.number, stored.manifest_sha256, stored.note, stored.updated_at) == before


def test_a_revision_is_seen_only_with_its_case(team: Team, member_of: MemberOf) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.IN_DESIGN)
    revision = Revision.objects.get(case=case)
    assert access_revision(actor_of(team.clinician), revision.id) == revision
    assert access_revision(actor_of(team.designer), revision.id) == revision
    with pytest.raises(NotFound):
        access_revision(actor_of(member_of(make_lab(), Role.DESIGNER)), revision.id)
    transition(team.clinician, case, "revoke_share")
    with pytest.raises(NotFound):
        access_revision(actor_of(team.designer), revision.id)


# --- attachments -------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [State.DRAFT, State.SUBMITTED, State.AWAITING_REVIEW])
def test_the_clinic_adds_files_until_approval(state: State, team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), state)
    audited = len(case_audit(case))
    attachment = attachment_add(actor=actor_of(team.staff), case=case, upload=scan_upload(3))
    assert attachment.revision_id is None
    assert entries(case)[-1] == TimelineEntry.ATTACHMENT_ADDED
    assert case_audit(case)[audited:] == [AuditAction.Case.AttachmentAdded]
    unchanged(case, state, team.lab if state != State.DRAFT else None)


@pytest.mark.parametrize("state", [State.APPROVED, State.SHIPPED, State.CLOSED])
def test_files_are_refused_from_approval_on(state: State, team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), state)
    attachments = Attachment.objects.count()
    with pytest.raises(InvalidTransition):
        attachment_add(actor=actor_of(team.clinician), case=case, upload=scan_upload(4))
    assert Attachment.objects.count() == attachments


def test_files_are_refused_in_a_cancelled_case(team: Team) -> None:
    case = make_case(team.clinician, team.patient)
    transition(team.clinician, case, "cancel")
    with pytest.raises(InvalidTransition):
        attachment_add(actor=actor_of(team.clinician), case=fresh(case), upload=scan_upload(4))


def test_the_lab_cannot_add_clinic_files(team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.ACCEPTED)
    for member in (team.designer, team.lab_staff):
        with pytest.raises(PermissionDenied):
            attachment_add(actor=actor_of(member), case=case, upload=scan_upload(5))


# --- the whole path ----------------------------------------------------------------------------


def test_the_happy_path_records_one_timeline_entry_and_one_audit_event_per_step(
    team: Team,
) -> None:
    case = make_case(team.clinician, team.patient)
    assert entries(case) == [TimelineEntry.CREATED, TimelineEntry.ATTACHMENT_ADDED]
    assert case_audit(case) == [AuditAction.Case.Created, AuditAction.Case.AttachmentAdded]

    steps: list[tuple[Membership, str, State]] = [
        (team.designer, "accept", State.ACCEPTED),
        (team.designer, "start_design", State.IN_DESIGN),
        (team.designer, "revision", State.IN_DESIGN),
        (team.designer, "send_for_review", State.AWAITING_REVIEW),
        (team.clinician, "request_changes", State.CHANGES_REQUESTED),
        (team.designer, "revision", State.IN_DESIGN),
        (team.designer, "send_for_review", State.AWAITING_REVIEW),
        (team.clinician, "approve", State.APPROVED),
        (team.lab_staff, "start_production", State.IN_PRODUCTION),
        (team.lab_staff, "ship", State.SHIPPED),
        (team.staff, "confirm_delivery", State.DELIVERED),
        (team.staff, "close", State.CLOSED),
    ]
    send_case(team.clinician, case, team.lab)
    expected_entries = [TimelineEntry.CREATED, TimelineEntry.ATTACHMENT_ADDED, "submit"]
    expected_audit = [
        AuditAction.Case.Created,
        AuditAction.Case.AttachmentAdded,
        AuditAction.Case.Submitted,
    ]
    for member, step, state in steps:
        before = State(fresh(case).status)
        if step == "revision":
            started = before != State.IN_DESIGN
            make_revision(member, fresh(case))
            if started:
                expected_entries.append(Action.START_DESIGN)
                expected_audit.append(AuditAction.Case.DesignStarted)
            expected_entries.append(TimelineEntry.REVISION_CREATED)
            expected_audit.append(AuditAction.Case.RevisionCreated)
        else:
            reason = "Open the contact." if step == "request_changes" else ""
            if step == "approve":
                approve_case(member, fresh(case))
            else:
                transition(member, fresh(case), step, reason=reason)
            expected_entries.append(step)
            expected_audit.append(ACTION_AUDIT[Action(step)])
            event = CaseEvent.objects.filter(case=case, entry=step).order_by("-created_at")[0]
            assert (event.from_status, event.to_status) == (before, state)
            assert event.actor_id == member.user.pk
            assert event.organization_id == member.organization_id
        assert fresh(case).status == state
        assert entries(case) == expected_entries
        assert case_audit(case) == expected_audit

    # Every audit event of a transition names the case and the patient, allowed.
    transitions = AuditEvent.objects.filter(
        subject_patient=str(team.patient.id),
        action__in=[a.value for a in ACTION_AUDIT.values()],
    )
    assert (
        transitions.count()
        == CaseEvent.objects.filter(case=case, entry__in=[a.value for a in Action]).count()
    )
    # ... except the approval's, which names the signed approval (of this case).
    approval = Approval.objects.get(case=case)
    assert {e.target_id for e in transitions} == {str(case.id), str(approval.id)}
    assert {e.outcome for e in transitions} == {Outcome.ALLOWED}
    revisions = list(Revision.objects.filter(case=case).order_by("number"))
    assert [r.number for r in revisions] == [1, 2]
    for revision in revisions:
        assert revision.manifest_sha256 == manifest_sha256(
            (f.sha256, f.size) for f in revision.files.all()
        )

    # Closed is the end: nothing more, from either side.
    for member, action in ((team.clinician, "cancel"), (team.lab_staff, "ship")):
        with pytest.raises(InvalidTransition) as refused:
            transition(member, fresh(case), action)
        assert refused.value.allowed == ()
    assert fresh(case).shared_with_lab_id == team.lab.id


def test_cancelling_a_shared_case_keeps_it_with_the_lab(team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.IN_DESIGN)
    transition(team.staff, case, "cancel")
    unchanged(case, State.CANCELLED, team.lab)
    assert access_case(actor_of(team.designer), case.id) == case
    with pytest.raises(InvalidTransition):
        transition(team.clinician, fresh(case), "revoke_share")


def test_case_list_counts_scans_and_revisions(team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient, scans=2), State.IN_DESIGN)
    make_revision(team.designer, fresh(case))
    [row] = case_list_for(actor=actor_of(team.clinician))
    assert row.id == case.id
    assert (row.scan_count, row.revision_count) == (2, 2)  # type: ignore[attr-defined]  # annotated


def test_the_lab_inbox_lists_the_submitted_cases(team: Team) -> None:
    # The status filter takes the plain text a query string carries.
    submitted = advance(team, make_case(team.clinician, team.patient), State.SUBMITTED)
    accepted = advance(team, make_case(team.clinician, team.patient), State.ACCEPTED)
    designer = actor_of(team.designer)
    assert [c.id for c in case_list_for(actor=designer, status="submitted")] == [submitted.id]
    assert [c.id for c in case_list_for(actor=designer, status="accepted")] == [accepted.id]
    assert list(case_list_for(actor=designer, status="bogus")) == []


def test_case_list_for_one_patient(team: Team) -> None:
    mine = make_case(team.clinician, team.patient, scans=0)
    make_case(team.clinician, make_patient(team.clinician), scans=0)
    rows = case_list_for(actor=actor_of(team.clinician), patient_id=team.patient.id)
    assert [row.id for row in rows] == [mine.id]


def test_files_and_revisions_are_listed_apart(team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient, scans=2), State.IN_DESIGN)
    make_revision(team.designer, fresh(case), note="Second.")
    clinic_files = list(attachment_list_for(case=case))
    assert len(clinic_files) == 2
    assert all(f.revision_id is None for f in clinic_files)
    revisions = list(revision_list_for(case=case))
    assert [r.number for r in revisions] == [2, 1]
    assert all(len(r.files.all()) == 1 for r in revisions)


def test_a_file_is_seen_only_with_its_case(team: Team, member_of: MemberOf) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.SUBMITTED)
    scan = first_scan(case)
    assert access_attachment(actor_of(team.staff), scan.id) == scan
    assert access_attachment(actor_of(team.designer), scan.id) == scan
    for outsider in (member_of(make_lab(), Role.DESIGNER), member_of(team.clinic, Role.PATIENT)):
        with pytest.raises(NotFound):
            access_attachment(actor_of(outsider), scan.id)
    with pytest.raises(NotFound):
        access_attachment(actor_of(team.staff), uuid.uuid4())
    transition(team.clinician, case, "revoke_share")
    with pytest.raises(NotFound):
        access_attachment(actor_of(team.designer), scan.id)


def test_a_scan_records_its_mesh(team: Team) -> None:
    case = make_case(team.clinician, team.patient)
    scan = first_scan(case)
    assert (scan.kind, scan.file_format, scan.units) == ("scan", "stl_binary", "mm")
    assert scan.vertex_count
    assert scan.face_count
    extents = scan.extents
    assert extents is not None
    assert all(0 < extent < 300 for extent in extents)
    photo = attachment_add(actor=actor_of(team.clinician), case=case, upload=png_upload())
    assert photo.extents is None
    assert (photo.width, photo.height) == (4, 4)


def test_scans_take_the_viewer_layer_asked_for_or_prepared_first_then_opposing(
    team: Team,
) -> None:
    case = make_case(team.clinician, team.patient, scans=2)
    layers = list(
        Attachment.objects.filter(case=case).order_by("created_at", "id").values_list("layer")
    )
    assert layers == [("prepared",), ("antagonist",)]
    actor = actor_of(team.clinician)
    asked = attachment_add(
        actor=actor,
        case=case,
        upload=Upload(io.BytesIO(arch_stl(3)), "bite.stl", layer="prepared"),
    )
    assert asked.layer == "prepared"
    photo = attachment_add(actor=actor, case=case, upload=png_upload())
    assert photo.layer == ""
    before = Attachment.objects.count()
    with pytest.raises(InvalidInput, match="prepared jaw or the opposing jaw"):
        attachment_add(
            actor=actor,
            case=case,
            upload=Upload(io.BytesIO(arch_stl(4)), "design.stl", layer="proposal"),
        )
    assert Attachment.objects.count() == before
    revision = make_revision(team.designer, advance(team, case, State.ACCEPTED))
    assert {file.layer for file in revision.files.all()} == {"proposal"}


def test_rows_print_no_patient_details(team: Team) -> None:
    case = advance(team, make_case(team.clinician, team.patient), State.IN_DESIGN)
    rows: list[object] = [
        case,
        Revision.objects.get(case=case),
        first_scan(case),
        CaseEvent.objects.filter(case=case).first(),
    ]
    for row in rows:
        text = str(row)
        assert str(row.pk) in text  # type: ignore[attr-defined]  # every row has a pk
        for secret in ("Lovelace", "lower-arch", "Prep margin", "First proposal"):
            assert secret not in text


def test_a_stored_file_must_be_the_inspected_file(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Guard against a bug, not bad input: if what is stored differs from what was checked,
    # nothing is kept.
    def misreported(file: BinaryIO, *, allowed: frozenset[AttachmentKind]) -> InspectedFile:
        return dataclasses.replace(inspect_upload(file, allowed=allowed), sha256="0" * 64)

    monkeypatch.setattr("cuspid.cases.services.inspect_upload", misreported)
    case = make_case(team.clinician, team.patient, scans=0)
    with pytest.raises(RuntimeError):
        attachment_add(actor=actor_of(team.clinician), case=case, upload=scan_upload())
    assert not Attachment.objects.filter(case=case).exists()
    assert entries(case) == [TimelineEntry.CREATED]
