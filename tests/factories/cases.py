"""Patients, cases, files and revisions for tests, made through the real services.

Every helper takes the acting member's ``Membership`` and goes through the services (policy,
workflow, encryption, audit), so a test's setup is what production would have done.
"""

from __future__ import annotations

import datetime
import io
from collections.abc import Sequence
from dataclasses import dataclass

from cuspid.cases.models import Attachment, Case, Revision
from cuspid.cases.services import (
    CaseDetails,
    Upload,
    attachment_add,
    case_create,
    case_send,
    case_transition,
    revision_create,
)
from cuspid.patients.models import Patient
from cuspid.patients.services import PatientDetails, patient_create
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.models import Membership, Organization
from cuspid.web.demo_scans import arch_stl

PATIENT_EMAIL = "ada.lovelace@patient.example"
PATIENT_HEALTH_CARD = "1234-567-890-AB"


def actor_of(membership: Membership) -> Actor:
    """The member as a service actor, freshly signed in (approvals need a recent sign-in)."""
    from cuspid.core import clock

    return Actor.of(membership, authenticated_at=clock.now())


def make_patient(membership: Membership, **fields: object) -> Patient:
    """A patient of the member's clinic, with contact details and a health card."""
    values: dict[str, object] = {
        "given_name": "Ada",
        "family_name": "Lovelace",
        "date_of_birth": datetime.date(1980, 12, 10),
        "sex": "female",
        "email": PATIENT_EMAIL,
        "phone": "+1 416 555 0199",
        "address": "1 Example Street, Toronto",
        "health_card": PATIENT_HEALTH_CARD,
        "chart_number": "CH-1001",
        "preferred_language": "en",
        "notes": "Allergic to latex.",
    }
    values.update(fields)
    return patient_create(actor=actor_of(membership), details=PatientDetails(**values))  # type: ignore[arg-type]  # test values


def scan_upload(seed: int = 1, name: str = "lower-arch.stl") -> Upload:
    """A valid generated arch scan (binary STL) as an upload."""
    return Upload(file=io.BytesIO(arch_stl(seed)), filename=name)


def make_case(
    membership: Membership,
    patient: Patient | None = None,
    *,
    scans: int = 1,
    teeth: Sequence[int] = (36,),
    notes: str = "Prep margin subgingival on the distal.",
) -> Case:
    """A draft crown case with ``scans`` generated scans."""
    actor = actor_of(membership)
    patient = patient if patient is not None else make_patient(membership)
    case = case_create(
        actor=actor,
        patient=patient,
        details=CaseDetails(
            case_type="crown",
            teeth=list(teeth),
            material="zirconia",
            shade="A2",
            due_date=None,
            priority="routine",
            notes=notes,
        ),
    )
    for seed in range(scans):
        attachment_add(actor=actor, case=case, upload=scan_upload(seed + 1))
    return case


def send_case(membership: Membership, case: Case, lab: Organization) -> Case:
    return case_send(actor=actor_of(membership), case=case, lab_id=lab.id)


def transition(membership: Membership, case: Case, action: str, reason: str = "") -> Case:
    return case_transition(actor=actor_of(membership), case=case, action=action, reason=reason)


def make_revision(membership: Membership, case: Case, note: str = "First proposal.") -> Revision:
    return revision_create(
        actor=actor_of(membership),
        case=case,
        uploads=[scan_upload(7, "crown-36.stl")],
        note=note,
    )


def first_scan(case: Case) -> Attachment:
    return Attachment.objects.filter(case=case, revision__isnull=True).order_by("created_at")[0]


@dataclass(frozen=True, slots=True)
class Team:
    """A clinic connected to a lab, with a clinician and a designer (the ``team`` fixture)."""

    clinic: Organization
    lab: Organization
    clinician: Membership
    designer: Membership
