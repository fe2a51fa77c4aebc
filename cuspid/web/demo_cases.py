"""Demo patients and cases: one case in every workflow state, with generated scan meshes.

Everything here is fictitious: the people are invented, the health-card numbers follow no
real scheme ("0000-000-001-DM"), the email addresses are at example.com and every mesh is a
synthetic arch from ``demo_scans``. The cases are driven through the real services by the
demo members (the clinician for the clinic's steps, the designer for the lab's design work,
lab staff for production and shipping), so their timelines and audit trails are what
production would have written, and every approved revision has a signed approval.

Running it again changes nothing that exists. Each patient is found by its health-card
number (through the blind index), and each case by its patient, type and teeth; only what
is missing is made. A case whose steps were interrupted is left where it stopped.
"""

from __future__ import annotations

import datetime
import io
import random
from dataclasses import dataclass
from typing import Final

import numpy as np

from cuspid.cases.approvals import CURRENT_STATEMENT_VERSION
from cuspid.cases.enums import CaseType, Layer, Material, Priority, TimelineEntry
from cuspid.cases.models import Case, CaseEvent, Revision
from cuspid.cases.services import (
    CaseDetails,
    Upload,
    attachment_add,
    case_create,
    case_send,
    case_transition,
    revision_create,
)
from cuspid.cases.services.approvals import revision_approve
from cuspid.cases.teeth import parse_teeth
from cuspid.cases.workflow import Action, State
from cuspid.core import clock
from cuspid.design.mesh import Mesh, stl_bytes
from cuspid.design.synth_prep import synth_preparation
from cuspid.patients.models import Patient
from cuspid.patients.selectors import PatientSearch, patient_list_for
from cuspid.patients.services import PatientDetails, patient_create
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.enums import ConnectionStatus, Role
from cuspid.tenancy.models import LabConnection, Membership, Organization
from cuspid.web.demo_scans import CROWN_CLEARANCE, Jaw, arch_stl, crown_stl

#: The size of a demo prepared-jaw scan: what an intraoral scanner's export decimates to.
PREPARED_SCAN_VERTICES: Final = 60_000


@dataclass(frozen=True)
class DemoPatient:
    """An invented patient; the number makes the health card, chart number and phone."""

    number: int
    given_name: str
    family_name: str
    date_of_birth: datetime.date
    sex: str
    language: str

    @property
    def health_card(self) -> str:
        return f"0000-000-{self.number:03d}-DM"

    @property
    def chart_number(self) -> str:
        return f"DEMO-{self.number:03d}"

    @property
    def email(self) -> str:
        return f"{self.given_name}.{self.family_name}@example.com".lower()


# "revise" is the designer uploading the next revision (which starts the design when needed);
# every other step is a workflow action, "submit" meaning case_send to the demo lab.
REVISE: Final = "revise"

_TO_REVIEW: Final = (Action.SUBMIT, Action.ACCEPT, REVISE, Action.SEND_FOR_REVIEW)
_APPROVED: Final = (*_TO_REVIEW, Action.APPROVE)

STEPS: Final[dict[State, tuple[str, ...]]] = {
    State.DRAFT: (),
    State.SUBMITTED: (Action.SUBMIT,),
    State.ACCEPTED: (Action.SUBMIT, Action.ACCEPT),
    State.IN_DESIGN: (Action.SUBMIT, Action.ACCEPT, REVISE),
    State.AWAITING_REVIEW: _TO_REVIEW,
    State.CHANGES_REQUESTED: (*_TO_REVIEW, Action.REQUEST_CHANGES),
    # Approved after one round of changes, so the case shows two revisions.
    State.APPROVED: (
        *_TO_REVIEW,
        Action.REQUEST_CHANGES,
        REVISE,
        Action.SEND_FOR_REVIEW,
        Action.APPROVE,
    ),
    State.IN_PRODUCTION: (*_APPROVED, Action.START_PRODUCTION),
    State.SHIPPED: (*_APPROVED, Action.START_PRODUCTION, Action.SHIP),
    State.DELIVERED: (*_APPROVED, Action.START_PRODUCTION, Action.SHIP, Action.CONFIRM_DELIVERY),
    State.CLOSED: (
        *_APPROVED,
        Action.START_PRODUCTION,
        Action.SHIP,
        Action.CONFIRM_DELIVERY,
        Action.CLOSE,
    ),
    State.DECLINED: (Action.SUBMIT, Action.DECLINE),
    State.CANCELLED: (Action.SUBMIT, Action.ACCEPT, Action.CANCEL),
}
"""The steps from a new draft (with its scans) to each state."""

# Only these steps carry the case's reason onto the timeline.
_REASONED_STEPS: Final = frozenset({Action.DECLINE, Action.REQUEST_CHANGES, Action.CANCEL})
_LAB_STAFF_STEPS: Final = frozenset({Action.START_PRODUCTION, Action.SHIP})
_LAB_STEPS: Final = frozenset(
    {Action.ACCEPT, Action.DECLINE, REVISE, Action.SEND_FOR_REVIEW, *_LAB_STAFF_STEPS}
)


@dataclass(frozen=True)
class DemoCase:
    """A case to open for a demo patient and the state to take it to (``STEPS``)."""

    state: State
    patient: int  # index into PATIENTS
    case_type: CaseType
    teeth: tuple[int, ...]
    material: Material
    shade: str
    due_in_days: int | None
    scans: tuple[Jaw, ...]
    notes: str
    rush: bool = False
    reason: str = ""  # why it was declined, sent back or cancelled
    # A tooth prepared for a crown: the scans are then the design engine's synthetic
    # preparation of it and the opposing jaw (``scans`` names the two jaws, prepared first).
    prepared_tooth: int | None = None


PATIENTS: Final = (
    DemoPatient(1, "Avery", "Example", datetime.date(1978, 3, 14), "female", "en"),
    DemoPatient(2, "Benoît", "Exemple", datetime.date(1965, 11, 2), "male", "fr"),
    DemoPatient(3, "Casey", "Sample", datetime.date(1991, 7, 23), "undisclosed", "en"),
    DemoPatient(4, "Dominique", "Fictif", datetime.date(1983, 1, 30), "female", "fr"),
    DemoPatient(5, "Elliot", "Placeholder", datetime.date(1957, 9, 8), "male", "en"),
    DemoPatient(6, "Fiona", "Testwell", datetime.date(2001, 5, 17), "female", "en"),
    DemoPatient(7, "Gaston", "Modèle", datetime.date(1972, 12, 1), "male", "fr"),
    DemoPatient(8, "Harper", "Mockridge", datetime.date(1996, 4, 5), "intersex", "en"),
)
"""Invented people; the health-card numbers are in no real scheme (all start 0000)."""

CASES: Final = (
    DemoCase(
        State.DRAFT,
        patient=0,
        case_type=CaseType.CROWN,
        teeth=(36,),
        material=Material.ZIRCONIA,
        shade="A2",
        due_in_days=14,
        scans=("lower",),
        notes="Full-contour crown; prep margin supragingival.",
    ),
    DemoCase(
        State.SUBMITTED,
        patient=1,
        case_type=CaseType.VENEER,
        teeth=(11, 21),
        material=Material.LITHIUM_DISILICATE,
        shade="BL2",
        due_in_days=21,
        scans=("upper",),
        notes="Minimal-prep veneers; match the incisal translucency of 12 and 22.",
    ),
    DemoCase(
        State.ACCEPTED,
        patient=2,
        case_type=CaseType.CROWN,
        teeth=(36,),
        material=Material.ZIRCONIA,
        shade="A3",
        due_in_days=10,
        scans=("lower", "upper"),
        rush=True,
        notes="Full-contour crown; chamfer margin, 1.5 mm occlusal reduction.",
        prepared_tooth=36,
    ),
    DemoCase(
        State.IN_DESIGN,
        patient=3,
        case_type=CaseType.INLAY_ONLAY,
        teeth=(26,),
        material=Material.LITHIUM_DISILICATE,
        shade="A3.5",
        due_in_days=12,
        scans=("upper",),
        notes="MOD onlay; cover the mesiobuccal cusp.",
    ),
    DemoCase(
        State.AWAITING_REVIEW,
        patient=4,
        case_type=CaseType.BRIDGE,
        teeth=(14, 15, 16),
        material=Material.PFM,
        shade="A2",
        due_in_days=9,
        scans=("upper", "lower"),
        notes="Three-unit bridge, pontic on 15; ridge-lap pontic.",
    ),
    DemoCase(
        State.CHANGES_REQUESTED,
        patient=5,
        case_type=CaseType.CROWN,
        teeth=(11,),
        material=Material.LITHIUM_DISILICATE,
        shade="B1",
        due_in_days=7,
        scans=("upper",),
        rush=True,
        notes="Match the contralateral central.",
        reason="Lengthen the incisal edge by 0.5 mm and soften the mesial line angle.",
    ),
    DemoCase(
        State.APPROVED,
        patient=6,
        case_type=CaseType.CROWN,
        teeth=(47,),
        material=Material.ZIRCONIA,
        shade="A3",
        due_in_days=8,
        scans=("lower",),
        notes="Limited occlusal clearance; anatomic contour.",
        reason="Open the distal contact slightly; it is too tight on the model.",
    ),
    DemoCase(
        State.IN_PRODUCTION,
        patient=7,
        case_type=CaseType.NIGHT_GUARD,
        teeth=(),
        material=Material.ACRYLIC,
        shade="",
        due_in_days=6,
        scans=("upper", "lower"),
        notes="Hard maxillary guard, 2 mm, canine guidance.",
    ),
    DemoCase(
        State.SHIPPED,
        patient=0,
        case_type=CaseType.IMPLANT_CROWN,
        teeth=(24,),
        material=Material.ZIRCONIA,
        shade="A2",
        due_in_days=3,
        scans=("upper",),
        rush=True,
        notes="Cement-retained on a custom abutment.",
    ),
    DemoCase(
        State.DELIVERED,
        patient=1,
        case_type=CaseType.INLAY_ONLAY,
        teeth=(37,),
        material=Material.GOLD,
        shade="",
        due_in_days=2,
        scans=("lower",),
        notes="Gold onlay, type III alloy.",
    ),
    DemoCase(
        State.CLOSED,
        patient=2,
        case_type=CaseType.CROWN,
        teeth=(25,),
        material=Material.PFM,
        shade="A3",
        due_in_days=None,
        scans=("upper",),
        notes="Porcelain butt margin on the buccal.",
    ),
    DemoCase(
        State.DECLINED,
        patient=3,
        case_type=CaseType.VENEER,
        teeth=(12, 22),
        material=Material.COMPOSITE,
        shade="A1",
        due_in_days=18,
        scans=("upper",),
        notes="Indirect composite veneers.",
        reason="We no longer make indirect composite veneers; please choose another lab.",
    ),
    DemoCase(
        State.CANCELLED,
        patient=4,
        case_type=CaseType.BRIDGE,
        teeth=(44, 45, 46),
        material=Material.PMMA,
        shade="A2",
        due_in_days=5,
        scans=("lower",),
        notes="Temporary bridge while the implant heals.",
        reason="The patient chose to postpone treatment.",
    ),
)
"""One case in every workflow state, for the first demo clinic."""


@dataclass(frozen=True)
class _Members:
    clinician: Membership
    designer: Membership
    lab_staff: Membership


def _member(organization: Organization, role: Role) -> Membership:
    membership = (
        Membership.objects.select_related("user", "organization")
        .filter(organization=organization, role=role, is_active=True)
        .order_by("created_at")
        .first()
    )
    if membership is None:
        raise RuntimeError(f"The demo {organization.kind} has no active {role.label}.")
    return membership


def _actor(membership: Membership) -> Actor:
    # Freshly signed in, as a member acting in the app would be: approval needs it.
    return Actor.of(membership, authenticated_at=clock.now())


def _patient(clinician: Membership, spec: DemoPatient) -> Patient:
    actor = _actor(clinician)
    existing = patient_list_for(actor=actor, search=PatientSearch(health_card=spec.health_card))
    found = existing.first()
    if found is not None:
        return found
    return patient_create(
        actor=actor,
        details=PatientDetails(
            given_name=spec.given_name,
            family_name=spec.family_name,
            date_of_birth=spec.date_of_birth,
            sex=spec.sex,
            email=spec.email,
            phone=f"+1 416 555 01{spec.number:02d}",
            address=f"{spec.number} Example Street, Toronto ON",
            health_card=spec.health_card,
            chart_number=spec.chart_number,
            preferred_language=spec.language,
            notes="Fictitious demo patient.",
        ),
    )


def _exists(patient: Patient, spec: DemoCase) -> bool:
    wanted = (spec.case_type, parse_teeth(spec.teeth))
    return any(
        (case_type, tuple(teeth)) == wanted
        for case_type, teeth in Case.objects.filter(patient=patient).values_list(
            "case_type", "teeth"
        )
    )


def _scan(seed: int, jaw: Jaw, filename: str) -> Upload:
    # The upper arch is lifted into the bite, so the two jaws show in occlusion.
    return Upload(file=io.BytesIO(arch_stl(seed, jaw=jaw, bite=jaw == "upper")), filename=filename)


def _prepared_scans(seed: int, tooth: int, jaws: tuple[Jaw, ...]) -> list[Upload]:
    """The design engine's synthetic preparation of ``tooth`` and the opposing jaw, in
    occlusion, as the prepared and opposing scans (what "Request AI suggestion" works on)."""
    prep = synth_preparation(seed, tooth, target_vertices=PREPARED_SCAN_VERTICES, pose=False)
    prepared, opposing = jaws
    # The generator's frame has +z towards the feet; the viewer's is +z up with the incisors
    # towards +y: a half turn about y (a rotation, so the faces keep their winding).
    upright = np.array([-1.0, 1.0, -1.0])
    return [
        Upload(
            file=io.BytesIO(stl_bytes(Mesh(prep.scan.vertices * upright, prep.scan.faces))),
            filename=f"{prepared}-arch-scan-prepared.stl",
            layer=Layer.PREPARED,
        ),
        Upload(
            file=io.BytesIO(
                stl_bytes(Mesh(prep.antagonist.vertices * upright, prep.antagonist.faces))
            ),
            filename=f"{opposing}-arch-scan.stl",
            layer=Layer.ANTAGONIST,
        ),
    ]


def _design(seed: int, jaw: Jaw, number: int, filename: str) -> Upload:
    """A crown over a first molar of the case's prepared scan (made from ``seed``); each
    revision a little further out, so comparing two revisions shows a difference."""
    crown = crown_stl(
        seed, jaw=jaw, tooth=1, bite=jaw == "upper", clearance=CROWN_CLEARANCE + 0.1 * (number - 1)
    )
    return Upload(file=io.BytesIO(crown), filename=filename)


def _design_name(spec: DemoCase, number: int) -> str:
    where = "-".join(str(tooth) for tooth in spec.teeth) or spec.scans[0]
    return f"{spec.case_type.replace('_', '-')}-{where}-design-r{number}.stl"


def _take(
    step: str, case: Case, spec: DemoCase, seed: int, members: _Members, lab: Organization
) -> Case:
    """One step of a demo case's path, by the member whose side and role it is."""
    if step == REVISE:
        number = case.revisions.count() + 1
        design = _design(seed, spec.scans[0], number, _design_name(spec, number))
        revision_create(
            actor=_actor(members.designer),
            case=case,
            uploads=[design],
            note=f"Design proposal {number}.",
        )
        return Case.objects.get(pk=case.pk)
    if step == Action.SUBMIT:
        return case_send(actor=_actor(members.clinician), case=case, lab_id=lab.id)
    if step == Action.APPROVE:
        # Approving signs the latest revision (cuspid.cases.services.approvals).
        revision_approve(
            actor=_actor(members.clinician),
            revision=case.revisions.select_related("case").order_by("-number")[0],
            statement_version=CURRENT_STATEMENT_VERSION,
        )
        return Case.objects.get(pk=case.pk)
    member = members.clinician
    if step in _LAB_STAFF_STEPS:
        member = members.lab_staff
    elif step in _LAB_STEPS:
        member = members.designer
    reason = spec.reason if step in _REASONED_STEPS else ""
    return case_transition(actor=_actor(member), case=case, action=step, reason=reason)


def _case(
    patient: Patient,
    spec: DemoCase,
    seed: int,
    members: _Members,
    lab: Organization,
    *,
    can_send: bool,
) -> Case | None:
    """Open the demo case and take it to its state; None when it cannot leave draft yet."""
    steps = STEPS[spec.state]
    if steps and not can_send:
        return None
    actor = _actor(members.clinician)
    today = clock.now().date()
    case = case_create(
        actor=actor,
        patient=patient,
        details=CaseDetails(
            case_type=spec.case_type,
            teeth=list(spec.teeth),
            material=spec.material,
            shade=spec.shade,
            due_date=None
            if spec.due_in_days is None
            else today + datetime.timedelta(days=spec.due_in_days),
            priority=Priority.RUSH if spec.rush else Priority.ROUTINE,
            notes=spec.notes,
        ),
    )
    uploads = (
        _prepared_scans(seed, spec.prepared_tooth, spec.scans)
        if spec.prepared_tooth is not None
        else [
            _scan(seed + index, jaw, f"{jaw}-arch-scan.stl") for index, jaw in enumerate(spec.scans)
        ]
    )
    for upload in uploads:
        attachment_add(actor=actor, case=case, upload=upload)
    for step in steps:
        case = _take(step, case, spec, seed, members, lab)
    _spread_timeline(case, seed)
    return Case.objects.get(pk=case.pk)


# How long each timeline step took after the one before, in hours (low, high): what a clinic
# and a lab would see, so the demo's insights show real turnaround times.
_STEP_HOURS: Final[dict[str, tuple[float, float]]] = {
    Action.SUBMIT: (1, 6),
    Action.ACCEPT: (2, 30),
    Action.START_DESIGN: (1, 8),
    TimelineEntry.REVISION_CREATED: (18, 60),
    Action.SEND_FOR_REVIEW: (0.2, 3),
    Action.REQUEST_CHANGES: (4, 40),
    Action.APPROVE: (3, 48),
    Action.START_PRODUCTION: (2, 20),
    Action.SHIP: (30, 110),
    Action.CONFIRM_DELIVERY: (20, 72),
    Action.CLOSE: (24, 120),
}


def _spread_timeline(case: Case, seed: int) -> None:
    """Move a demo case's timeline from the seconds the seed took to days, ending now.

    Only the demo does this, on synthetic cases: the timeline's times are what the insights
    measure. Revisions move with their timeline entries (the workflow compares them with the
    last change request); audit events and signed approvals keep their real times.
    """
    events = list(CaseEvent.objects.filter(case=case).order_by("created_at", "id"))
    spread = random.Random(seed)  # noqa: S311 -- demo timings, not a secret
    gaps = [
        0.0 if index == 0 else spread.uniform(*_STEP_HOURS.get(event.entry, (0.1, 2)))
        for index, event in enumerate(events)
    ]
    start = clock.now() - datetime.timedelta(hours=sum(gaps) + spread.uniform(2, 48))
    at = start
    for event, gap in zip(events, gaps, strict=True):
        at += datetime.timedelta(hours=gap)
        CaseEvent.objects.filter(pk=event.pk).update(created_at=at)
        if event.entry == TimelineEntry.REVISION_CREATED and event.revision_id is not None:
            # The workflow counts revisions made since the last change request by time.
            Revision.objects.filter(pk=event.revision_id).update(created_at=at)
    Case.objects.filter(pk=case.pk).update(created_at=start, status_changed_at=at)


def seed_demo_cases(*, clinic: Organization, lab: Organization) -> list[Case]:
    """Give the demo clinic its patients and one case in every workflow state, shared with the
    demo lab; returns the cases made by this call (none when they all exist).

    Only what is missing is made: patients by health-card number, cases by patient, type and
    teeth. Without an active connection to the lab only drafts are made. Every step goes
    through the real services, so it is audited. Raises RuntimeError when the clinic has no
    active clinician or the lab no active designer or lab staff member.
    """
    members = _Members(
        clinician=_member(clinic, Role.CLINICIAN),
        designer=_member(lab, Role.DESIGNER),
        lab_staff=_member(lab, Role.LAB_STAFF),
    )
    can_send = LabConnection.objects.filter(
        clinic=clinic, lab=lab, status=ConnectionStatus.ACTIVE
    ).exists()
    patients = [_patient(members.clinician, spec) for spec in PATIENTS]
    made: list[Case] = []
    for position, spec in enumerate(CASES):
        patient = patients[spec.patient]
        if _exists(patient, spec):
            continue
        # Each case its own meshes, the same on every fresh seed.
        case = _case(patient, spec, 100 * (position + 1), members, lab, can_send=can_send)
        if case is not None:
            made.append(case)
    return made
