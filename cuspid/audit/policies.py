"""Who may read the audit trail. (The full matrix arrives with ``cuspid.access``.)"""

from __future__ import annotations

from cuspid.core.errors import PermissionDenied
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.enums import Role


def can_view_audit(actor: Actor) -> bool:
    """An organisation's admins read the audit events of their organisation.

    Other kinds of actor (a break-glass operator, say) have no role here and may not.
    """
    return getattr(actor, "role", None) == Role.ORG_ADMIN


def require_view_audit(actor: Actor) -> None:
    """Raise ``PermissionDenied`` unless the actor administers their active organisation."""
    if not can_view_audit(actor):
        raise PermissionDenied
