"""Who an audit event names as its actor, whatever kind of actor it was."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from uuid import UUID

from cuspid.core.actors import SystemActor
from cuspid.tenancy.actor import Actor

SYSTEM_ROLE = "system"


@dataclass(frozen=True, slots=True)
class AuditIdentity:
    """The actor fields of an event: ids and codes only, never a name or an email."""

    user_id: UUID | None = None
    role: str = ""
    organization_id: UUID | None = None
    system_reason: str = ""

    def audit_identity(self) -> AuditIdentity:
        return self


@runtime_checkable
class HasAuditIdentity(Protocol):
    """Any actor that can say who it is for the audit trail (e.g. a break-glass operator)."""

    def audit_identity(self) -> AuditIdentity: ...


AuditActor = Actor | SystemActor | HasAuditIdentity | None
"""What ``audit_emit`` accepts; ``None`` is an anonymous caller such as a failed sign-in."""

ANONYMOUS = AuditIdentity()


def identity_of(actor: AuditActor) -> AuditIdentity:
    """The identity an event records for ``actor``."""
    if actor is None:
        return ANONYMOUS
    if isinstance(actor, Actor):
        return AuditIdentity(
            user_id=actor.user.pk,
            role=str(actor.role),
            organization_id=actor.membership.organization_id,
        )
    if isinstance(actor, SystemActor):
        return AuditIdentity(role=SYSTEM_ROLE, system_reason=actor.reason)
    return actor.audit_identity()
