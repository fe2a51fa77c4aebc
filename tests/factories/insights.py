"""Cases with a seeded timeline, for the workflow insights.

The case is opened through the real service (policy, encryption, audit); its timeline is
then written as the facts it records: ``CaseEvent`` rows with controlled ``created_at``
(the service would stamp them with the current time), and the case's status and lab set to
where that timeline leads. Times are hours after a base instant, so expected durations can
be computed by hand.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from cuspid.cases.models import Case, CaseEvent
from cuspid.cases.services import CaseDetails, case_create
from cuspid.cases.workflow import Action
from cuspid.core import clock
from cuspid.patients.models import Patient
from cuspid.tenancy.models import Membership, Organization
from tests.factories import make_membership
from tests.factories.cases import actor_of, make_patient

REVISION = "revision_created"
# Teeth the service accepts for each case type.
_TEETH: dict[str, list[int]] = {"bridge": [35, 36, 37], "night_guard": [], "other": []}
# The state each timeline entry leaves a case in (revision uploads leave it in design).
_STATE_AFTER: dict[str, str] = {
    Action.SUBMIT: "submitted",
    Action.ACCEPT: "accepted",
    Action.DECLINE: "declined",
    Action.START_DESIGN: "in_design",
    REVISION: "in_design",
    Action.SEND_FOR_REVIEW: "awaiting_review",
    Action.REQUEST_CHANGES: "changes_requested",
    Action.APPROVE: "approved",
    Action.START_PRODUCTION: "in_production",
    Action.SHIP: "shipped",
    Action.CONFIRM_DELIVERY: "delivered",
    Action.CLOSE: "closed",
    Action.CANCEL: "cancelled",
    Action.REVOKE_SHARE: "draft",
}
_ENDS_SHARE = frozenset({Action.DECLINE, Action.REVOKE_SHARE})


def base_time() -> datetime.datetime:
    """A whole hour ten days ago: inside the default 90-day period, and in the past."""
    return (clock.now() - datetime.timedelta(days=10)).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class Step:
    """One timeline entry: what, by whom, ``hours`` after the case's base time; a submit
    may name the lab it goes to (else the case's ``lab``)."""

    entry: str
    by: Membership
    hours: float
    to: Organization | None = None


def seed_case(
    clinician: Membership,
    patient: Patient,
    steps: Sequence[Step] = (),
    *,
    lab: Organization | None = None,
    case_type: str = "crown",
    base: datetime.datetime | None = None,
) -> Case:
    """A case of ``clinician``'s clinic opened at ``base`` with the timeline ``steps``.

    ``lab`` is the lab the case goes to (unless a submit names another): the share is set
    on each submit and cleared by a decline or a withdrawal, as the services do.
    """
    start = base if base is not None else base_time()
    case = case_create(
        actor=actor_of(clinician),
        patient=patient,
        details=CaseDetails(
            case_type=case_type,
            teeth=_TEETH.get(case_type, [36]),
            material="zirconia",
        ),
    )
    status, shared = case.status, None
    for step in steps:
        at = start + datetime.timedelta(hours=step.hours)
        event = CaseEvent.objects.create(
            case=case,
            patient_id=case.patient_id,
            entry=step.entry,
            actor=step.by.user,
            organization=step.by.organization,
        )
        CaseEvent.objects.filter(pk=event.pk).update(created_at=at)
        status = _STATE_AFTER[step.entry]
        if step.entry == Action.SUBMIT:
            shared = step.to or lab
        elif step.entry in _ENDS_SHARE:
            shared = None
    Case.objects.filter(pk=case.pk).update(status=status, shared_with_lab=shared, created_at=start)
    case.refresh_from_db()
    return case


def full_cycle(
    clinician: Membership,
    designer: Membership,
    lab_staff: Membership,
    *,
    accept: float,
    revision: float,
    review: float,
    approve: float,
    ship: float,
    changes: int = 0,
) -> list[Step]:
    """Submit at 0 h, then accept, first revision, and review at the given hours; ``changes``
    rounds of change request + new revision + review (one hour apart each) before the
    approval at ``approve`` and shipping at ``ship``."""
    steps = [
        Step(Action.SUBMIT, clinician, 0),
        Step(Action.ACCEPT, lab_staff, accept),
        Step(Action.START_DESIGN, designer, revision),
        Step(REVISION, designer, revision),
        Step(Action.SEND_FOR_REVIEW, designer, review),
    ]
    at = review
    for _ in range(changes):
        steps += [
            Step(Action.REQUEST_CHANGES, clinician, at + 1),
            Step(Action.START_DESIGN, designer, at + 2),
            Step(REVISION, designer, at + 2),
            Step(Action.SEND_FOR_REVIEW, designer, at + 3),
        ]
        at += 3
    steps += [
        Step(Action.APPROVE, clinician, approve),
        Step(Action.START_PRODUCTION, lab_staff, approve + 1),
        Step(Action.SHIP, lab_staff, ship),
    ]
    return steps


# --- one clinic's period, with every figure worked out by hand -------------------------------

# Who the scenario's patient is: unusual enough that finding it in an answer means a leak.
PATIENT_GIVEN, PATIENT_FAMILY = "Ottoline", "Vasquez-Brandywine"


@dataclass(frozen=True, slots=True)
class Scenario:
    """North Clinic's six cases with Bright Lab, opened ten days ago (see ``seed_scenario``)."""

    clinician_a: Membership
    clinician_b: Membership
    designer_x: Membership
    designer_y: Membership
    lab_staff: Membership
    patient: Patient
    cases: tuple[Case, ...]


def named_member(organization: Organization, role: str, name: str) -> Membership:
    """A member with a full name (shown in the breakdowns)."""
    return make_membership(organization=organization, role=role, user__full_name=name)


def seed_scenario(clinic: Organization, lab: Organization) -> Scenario:
    """Six cases of ``clinic`` with ``lab`` (which must be connected), hours after the base:

    ====  =========  ======  ==================================================  =========
    case  type       sent by  timeline (h)                                        state
    ====  =========  ======  ==================================================  =========
    c1    crown      A       accept 2, rev X 5, review 8, approve A 10, ship 30   shipped
    c2    crown      A       accept 4, rev X 10, review 12, changes 13, rev X 14, shipped
                             review 15, approve A 19, ship 40
    c3    bridge     B       accept 6, rev Y 7, review 9, approve B 10            approved
    c4    crown      B       accept 8, rev Y 9                                    in design
    c5    crown      A       (sent only)                                          submitted
    c6    crown      -       (never sent)                                         draft
    ====  =========  ======  ==================================================  =========
    """
    a = named_member(clinic, "clinician", "Dr Amara Diallo")
    b = named_member(clinic, "clinician", "Dr Ben Okafor")
    x = named_member(lab, "designer", "Xavier Lee")
    y = named_member(lab, "designer", "Yuki Tanaka")
    s = named_member(lab, "lab_staff", "Sam Roy")
    patient = make_patient_for_insights(a)
    c1 = [
        Step(Action.SUBMIT, a, 0),
        Step(Action.ACCEPT, s, 2),
        Step(Action.START_DESIGN, x, 5),
        Step(REVISION, x, 5),
        Step(Action.SEND_FOR_REVIEW, x, 8),
        Step(Action.APPROVE, a, 10),
        Step(Action.START_PRODUCTION, s, 11),
        Step(Action.SHIP, s, 30),
    ]
    c2 = [
        Step(Action.SUBMIT, a, 0),
        Step(Action.ACCEPT, s, 4),
        Step(Action.START_DESIGN, x, 10),
        Step(REVISION, x, 10),
        Step(Action.SEND_FOR_REVIEW, x, 12),
        Step(Action.REQUEST_CHANGES, a, 13),
        Step(Action.START_DESIGN, x, 14),
        Step(REVISION, x, 14),
        Step(Action.SEND_FOR_REVIEW, x, 15),
        Step(Action.APPROVE, a, 19),
        Step(Action.START_PRODUCTION, s, 20),
        Step(Action.SHIP, s, 40),
    ]
    c3 = [
        Step(Action.SUBMIT, b, 0),
        Step(Action.ACCEPT, s, 6),
        Step(Action.START_DESIGN, y, 7),
        Step(REVISION, y, 7),
        Step(Action.SEND_FOR_REVIEW, y, 9),
        Step(Action.APPROVE, b, 10),
    ]
    c4 = [
        Step(Action.SUBMIT, b, 0),
        Step(Action.ACCEPT, s, 8),
        Step(Action.START_DESIGN, y, 9),
        Step(REVISION, y, 9),
    ]
    c5 = [Step(Action.SUBMIT, a, 0)]
    cases = (
        seed_case(a, patient, c1, lab=lab),
        seed_case(a, patient, c2, lab=lab),
        seed_case(b, patient, c3, lab=lab, case_type="bridge"),
        seed_case(b, patient, c4, lab=lab),
        seed_case(a, patient, c5, lab=lab),
        seed_case(a, patient),
    )
    return Scenario(a, b, x, y, s, patient, cases)


def make_patient_for_insights(clinician: Membership) -> Patient:
    """The scenario's patient, whose name must never appear in any insight."""
    return make_patient(clinician, given_name=PATIENT_GIVEN, family_name=PATIENT_FAMILY)
