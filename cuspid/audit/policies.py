"""Who may read the audit trail: the one role x permission matrix decides (Perm.AuditView)."""

from __future__ import annotations

from cuspid.access.permissions import Perm
from cuspid.access.policy import can
from cuspid.core.errors import PermissionDenied
from cuspid.tenancy.actor import Actor


def can_view_audit(actor: Actor) -> bool:
    """An organisation's admins read the audit events of their organisation.

    The answer comes from ``cuspid.access``'s matrix; a break-glass operator's read-only role
    does not hold ``Perm.AuditView``.
    """
    return can(actor, Perm.AuditView, actor.organization)


def require_view_audit(actor: Actor) -> None:
    """Raise ``PermissionDenied`` unless the actor's role holds ``Perm.AuditView`` here."""
    if not can_view_audit(actor):
        raise PermissionDenied
