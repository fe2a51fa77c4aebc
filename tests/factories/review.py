"""Pins, comments and a case under review for tests, made through the real services."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cuspid.cases.models import Annotation, Case, Comment, Revision
from cuspid.cases.services.review import annotation_create, comment_create
from cuspid.patients.models import Patient
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.factories import make_lab_connection, make_membership, make_user
from tests.factories.cases import (
    actor_of,
    make_case,
    make_patient,
    make_revision,
    send_case,
    transition,
)

POINT = (1.5, -2.25, 10.0)
NORMAL = (0.0, 0.0, 2.0)


@dataclass(frozen=True)
class ReviewTeam:
    """A clinic and a connected lab, one member per working role, a patient, and a case sent
    to the lab, accepted, with revision 1 (in design)."""

    clinic: Organization
    lab: Organization
    clinician: Membership
    staff: Membership
    designer: Membership
    lab_staff: Membership
    patient: Patient
    case: Case
    revision: Revision


def member(organization: Organization, role: Role, full_name: str = "", **user: Any) -> Membership:
    """A new user with one membership; ``full_name`` is what their @handle comes from."""
    person = make_user(full_name=full_name, **user) if full_name or user else make_user()
    return make_membership(user=person, organization=organization, role=role)


def make_review_team(
    clinic: Organization, lab: Organization, *, patient_name: tuple[str, str] = ("Ada", "Lovelace")
) -> ReviewTeam:
    """The team, the case and its first revision (the case is in design)."""
    make_lab_connection(clinic=clinic, lab=lab)
    clinician = member(clinic, Role.CLINICIAN, "Marie Roy")
    designer = member(lab, Role.DESIGNER, "Dev Patel")
    given, family = patient_name
    patient = make_patient(clinician, given_name=given, family_name=family)
    case = send_case(clinician, make_case(clinician, patient), lab)
    case = transition(designer, case, "accept")
    revision = make_revision(designer, case)
    return ReviewTeam(
        clinic=clinic,
        lab=lab,
        clinician=clinician,
        staff=member(clinic, Role.STAFF, "Sam Okafor"),
        designer=designer,
        lab_staff=member(lab, Role.LAB_STAFF, "Lee Wong"),
        patient=patient,
        case=Case.objects.get(pk=case.pk),
        revision=revision,
    )


def make_pin(
    membership: Membership,
    revision: Revision,
    text: str = "Open contact on the distal.",
    point: Sequence[float] = POINT,
    normal: Sequence[float] = NORMAL,
) -> Annotation:
    return annotation_create(
        actor=actor_of(membership), revision=revision, point=point, normal=normal, text=text
    )


def make_comment(
    membership: Membership,
    revision: Revision,
    body: str = "Looks good.",
    parent: Comment | None = None,
) -> Comment:
    return comment_create(actor=actor_of(membership), revision=revision, body=body, parent=parent)
