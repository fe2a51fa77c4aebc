"""``can`` and ``require``: the role's permission (matrix.py) plus the object rules.

Object rules, checked after the role holds the permission:

- an organisation's actors see that organisation, objects carrying its ``organization_id``
  and the connections it is an end of;
- a case shared with a lab (:class:`LabShared`) is seen by that lab only while it is shared;
- a patient sees their organisation and their own records (:class:`PatientOwned`) only;
- an external reviewer sees the one revision of their link (:class:`RevisionScoped`).

Anything else is refused: an object of a kind the policy does not know is not visible.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable
from uuid import UUID

from cuspid.access.matrix import AccessRole, permissions_of
from cuspid.access.permissions import Perm
from cuspid.audit.identity import AuditIdentity
from cuspid.core.errors import PermissionDenied
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.models import Organization


@runtime_checkable
class PolicyActor(Protocol):
    """An actor that is not a membership (break-glass operator, review link holder)."""

    @property
    def access_role(self) -> AccessRole: ...

    @property
    def organization_id(self) -> UUID | None: ...

    @property
    def user_id(self) -> UUID | None: ...

    def audit_identity(self) -> AuditIdentity: ...


@runtime_checkable
class ReviewLinkActor(Protocol):
    """An actor bound to one case revision by a review link."""

    @property
    def revision_id(self) -> UUID: ...


@runtime_checkable
class OrganizationScoped(Protocol):
    """An object that belongs to one organisation."""

    organization_id: UUID


@runtime_checkable
class LabShared(Protocol):
    """A case: owned by a clinic (``organization_id``), shared with at most one lab."""

    organization_id: UUID
    shared_with_lab_id: UUID | None


@runtime_checkable
class ConnectionEnds(Protocol):
    """A clinic-lab connection: seen from both of its ends."""

    clinic_id: UUID
    lab_id: UUID


@runtime_checkable
class PatientOwned(Protocol):
    """A record about one patient, who signs in as ``patient_user_id``."""

    organization_id: UUID
    patient_user_id: UUID


@runtime_checkable
class RevisionScoped(Protocol):
    """An object that is, or belongs to, one case revision."""

    revision_id: UUID


AnyActor = Actor | PolicyActor


def role_of(actor: AnyActor) -> AccessRole:
    """The actor's role in the matrix."""
    if isinstance(actor, Actor):
        return AccessRole(actor.role)
    return actor.access_role


def _organization_id(actor: AnyActor) -> UUID | None:
    if isinstance(actor, Actor):
        return actor.membership.organization_id
    return actor.organization_id


def _user_id(actor: AnyActor) -> UUID | None:
    if isinstance(actor, Actor):
        return actor.user.pk
    return actor.user_id


def _may_see(actor: AnyActor, role: AccessRole, obj: object) -> bool:
    if role == AccessRole.EXTERNAL_REVIEWER:
        return (
            isinstance(actor, ReviewLinkActor)
            and isinstance(obj, RevisionScoped)
            and obj.revision_id == actor.revision_id
        )
    org_id = _organization_id(actor)
    if org_id is None:
        return False
    if isinstance(obj, Organization):
        return obj.id == org_id
    if role == AccessRole.PATIENT:
        return (
            isinstance(obj, PatientOwned)
            and obj.organization_id == org_id
            and obj.patient_user_id == _user_id(actor)
        )
    if isinstance(obj, LabShared):
        return org_id in (obj.organization_id, obj.shared_with_lab_id)
    if isinstance(obj, ConnectionEnds):
        return org_id in (obj.clinic_id, obj.lab_id)
    if isinstance(obj, OrganizationScoped):
        return obj.organization_id == org_id
    return False


def can(actor: AnyActor, perm: Perm, obj: object | None = None) -> bool:
    """Whether the actor's role holds ``perm`` and, given an object, the actor may see it."""
    role = role_of(actor)
    if perm not in permissions_of(role):
        return False
    return obj is None or _may_see(actor, role, obj)


def require(actor: AnyActor, perm: Perm, obj: object | None = None) -> None:
    """Raise ``PermissionDenied`` unless :func:`can`.

    Callers find the object with an ``access_*`` helper first, which answers ``NotFound`` for
    absent and foreign objects alike, so a 403 here never confirms a foreign id exists.
    """
    if not can(actor, perm, obj):
        raise PermissionDenied
