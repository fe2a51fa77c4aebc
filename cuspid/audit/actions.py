"""The one catalogue of audit actions: ``AuditAction.<Area>.<Event> = "<area>:<verb>"``.

New features add a member here (and a label below); ``audit_emit`` refuses anything else.
"""

from __future__ import annotations

from enum import StrEnum

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class AuditAction:
    """Namespace of the nested enums; each member's value is what the audit table stores."""

    class Auth(StrEnum):
        SignedIn = "auth:sign_in"
        SignedOut = "auth:sign_out"
        SignInFailed = "auth:sign_in_failed"

    class Org(StrEnum):
        Switched = "org:switch"

    class Record(StrEnum):
        # A read of a PHI-scoped page or endpoint.
        Read = "record:read"

    class BreakGlass(StrEnum):
        Started = "breakglass:start"
        Accessed = "breakglass:access"
        Expired = "breakglass:expire"

    class Audit(StrEnum):
        Exported = "audit:export"
        CheckpointSigned = "audit:checkpoint_sign"


AREAS: tuple[type[StrEnum], ...] = (
    AuditAction.Auth,
    AuditAction.Org,
    AuditAction.Record,
    AuditAction.BreakGlass,
    AuditAction.Audit,
)

ACTION_LABELS: dict[str, str | Promise] = {
    AuditAction.Auth.SignedIn: _("Signed in"),
    AuditAction.Auth.SignedOut: _("Signed out"),
    AuditAction.Auth.SignInFailed: _("Sign-in failed"),
    AuditAction.Org.Switched: _("Switched organization"),
    AuditAction.Record.Read: _("Read a record"),
    AuditAction.BreakGlass.Started: _("Started break-glass access"),
    AuditAction.BreakGlass.Accessed: _("Accessed under break-glass"),
    AuditAction.BreakGlass.Expired: _("Break-glass access expired"),
    AuditAction.Audit.Exported: _("Exported the audit log"),
    AuditAction.Audit.CheckpointSigned: _("Signed an audit checkpoint"),
}


def all_actions() -> list[StrEnum]:
    """Every action in the catalogue, area by area (tests pin it; forms offer it)."""
    return [member for area in AREAS for member in area]


def all_action_values() -> frozenset[str]:
    """The stored value of every action."""
    return frozenset(str(member) for member in all_actions())


def action_label(value: str) -> str | Promise:
    """A readable label for a stored action value; the raw value if it is no longer known."""
    return ACTION_LABELS.get(value, value)
