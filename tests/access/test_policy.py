"""``can`` and ``require``: the role's permission, then the object rules."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

import pytest

from cuspid.access.matrix import AccessRole
from cuspid.access.permissions import Perm
from cuspid.access.policy import can, require, role_of
from cuspid.audit.identity import AuditIdentity
from cuspid.core.errors import PermissionDenied
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import LabConnection, Membership, Organization

MemberOf = Callable[[Organization, Role], Membership]


@dataclass
class FakeCase:
    organization_id: UUID
    shared_with_lab_id: UUID | None = None


@dataclass
class FakePatientRecord:
    organization_id: UUID
    patient_user_id: UUID


@dataclass
class FakeRevision:
    revision_id: UUID


@dataclass
class FakeOrgThing:
    organization_id: UUID


@dataclass
class FakeReviewer:
    revision_id: UUID
    access_role: AccessRole = AccessRole.EXTERNAL_REVIEWER
    organization_id: UUID | None = None
    user_id: UUID | None = None

    def audit_identity(self) -> AuditIdentity:
        return AuditIdentity(role=str(self.access_role))


@dataclass
class FakeOrphan:
    """A non-member actor that somehow names no organisation."""

    access_role: AccessRole = AccessRole.OPERATOR_BREAK_GLASS
    organization_id: UUID | None = None
    user_id: UUID | None = field(default_factory=uuid.uuid4)

    def audit_identity(self) -> AuditIdentity:
        return AuditIdentity(role=str(self.access_role))


def _actor(membership: Membership) -> Actor:
    return Actor.of(membership)


def test_role_of_a_member_and_of_other_actors(clinic: Organization, member_of: MemberOf) -> None:
    assert role_of(_actor(member_of(clinic, Role.STAFF))) == AccessRole.STAFF
    assert role_of(FakeReviewer(uuid.uuid4())) == AccessRole.EXTERNAL_REVIEWER


def test_without_an_object_only_the_role_counts(clinic: Organization, member_of: MemberOf) -> None:
    staff = _actor(member_of(clinic, Role.STAFF))
    assert can(staff, Perm.PatientView)
    assert not can(staff, Perm.CaseApprove)


def test_require_raises_permission_denied(clinic: Organization, member_of: MemberOf) -> None:
    staff = _actor(member_of(clinic, Role.STAFF))
    require(staff, Perm.PatientView, clinic)
    with pytest.raises(PermissionDenied):
        require(staff, Perm.CaseApprove)
    with pytest.raises(PermissionDenied):
        require(staff, Perm.PatientView, FakeOrgThing(uuid.uuid4()))


def test_same_organization_only(
    clinic: Organization, other_clinic: Organization, member_of: MemberOf
) -> None:
    admin = _actor(member_of(clinic, Role.ORG_ADMIN))
    colleague = member_of(clinic, Role.STAFF)
    outsider = member_of(other_clinic, Role.STAFF)
    assert can(admin, Perm.OrgView, clinic)
    assert not can(admin, Perm.OrgView, other_clinic)
    assert can(admin, Perm.MemberView, colleague)
    assert not can(admin, Perm.MemberView, outsider)


def test_a_connection_is_seen_from_both_ends_only(
    clinic: Organization,
    other_clinic: Organization,
    lab: Organization,
    connection_: LabConnection,
    member_of: MemberOf,
) -> None:
    assert can(_actor(member_of(clinic, Role.STAFF)), Perm.ConnectionView, connection_)
    assert can(_actor(member_of(lab, Role.DESIGNER)), Perm.ConnectionView, connection_)
    assert not can(_actor(member_of(other_clinic, Role.STAFF)), Perm.ConnectionView, connection_)


def test_a_lab_sees_a_case_only_while_it_is_shared_with_it(
    clinic: Organization, lab: Organization, member_of: MemberOf
) -> None:
    designer = _actor(member_of(lab, Role.DESIGNER))
    clinician = _actor(member_of(clinic, Role.CLINICIAN))
    shared = FakeCase(organization_id=clinic.id, shared_with_lab_id=lab.id)
    unshared = FakeCase(organization_id=clinic.id)
    assert can(designer, Perm.CaseView, shared)
    assert not can(designer, Perm.CaseView, unshared)
    assert can(clinician, Perm.CaseView, unshared)
    assert can(clinician, Perm.CaseView, shared)


def test_a_patient_sees_only_their_own_records(
    clinic: Organization, other_clinic: Organization, member_of: MemberOf
) -> None:
    patient_membership = member_of(clinic, Role.PATIENT)
    patient = _actor(patient_membership)
    own = FakePatientRecord(clinic.id, patient_membership.user.pk)
    someone_elses = FakePatientRecord(clinic.id, uuid.uuid4())
    own_elsewhere = FakePatientRecord(other_clinic.id, patient_membership.user.pk)
    assert can(patient, Perm.PatientView, own)
    assert not can(patient, Perm.PatientView, someone_elses)
    assert not can(patient, Perm.PatientView, own_elsewhere)
    assert can(patient, Perm.OrgView, clinic)
    # An organisation-scoped object that is not a patient's record is not theirs to see.
    assert not can(patient, Perm.PatientView, FakeOrgThing(clinic.id))


def test_staff_see_their_clinics_patient_records(clinic: Organization, member_of: MemberOf) -> None:
    staff = _actor(member_of(clinic, Role.STAFF))
    assert can(staff, Perm.PatientView, FakePatientRecord(clinic.id, uuid.uuid4()))


def test_an_external_reviewer_sees_only_their_revision() -> None:
    revision = uuid.uuid4()
    reviewer = FakeReviewer(revision)
    assert can(reviewer, Perm.CaseView, FakeRevision(revision))
    assert not can(reviewer, Perm.CaseView, FakeRevision(uuid.uuid4()))
    assert not can(reviewer, Perm.CaseView, FakeOrgThing(uuid.uuid4()))
    assert not can(reviewer, Perm.PatientView)


def test_an_unknown_kind_of_object_is_not_visible(
    clinic: Organization, member_of: MemberOf
) -> None:
    assert not can(_actor(member_of(clinic, Role.CLINICIAN)), Perm.CaseView, object())


def test_an_actor_without_an_organization_sees_nothing(clinic: Organization) -> None:
    orphan = FakeOrphan()
    assert can(orphan, Perm.OrgView)
    assert not can(orphan, Perm.OrgView, clinic)


def test_a_non_member_patient_actor_is_matched_by_user_id(clinic: Organization) -> None:
    portal = FakeOrphan(access_role=AccessRole.PATIENT, organization_id=clinic.id)
    assert portal.user_id is not None
    assert can(portal, Perm.PatientView, FakePatientRecord(clinic.id, portal.user_id))
    assert not can(portal, Perm.PatientView, FakePatientRecord(clinic.id, uuid.uuid4()))
