"""The one role x permission matrix (DESIGN.md, "Actors and roles"). This file is the truth.

Membership roles come from ``tenancy.enums.Role``; the external reviewer (a review link) and
the platform operator hold no membership, so they exist only here. The operator holds nothing
by default; under a live break-glass grant it reads, and only reads, one organisation.
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType

from cuspid.access.permissions import Perm
from cuspid.tenancy.enums import Role


class AccessRole(StrEnum):
    """Every role the policy knows: the membership roles plus the access-level ones."""

    ORG_ADMIN = Role.ORG_ADMIN.value
    CLINICIAN = Role.CLINICIAN.value
    STAFF = Role.STAFF.value
    DESIGNER = Role.DESIGNER.value
    LAB_STAFF = Role.LAB_STAFF.value
    PATIENT = Role.PATIENT.value
    EXTERNAL_REVIEWER = "external_reviewer"
    PLATFORM_OPERATOR = "platform_operator"
    OPERATOR_BREAK_GLASS = "operator_break_glass"


_CLINIC_CARE = frozenset(
    {
        Perm.OrgView,
        Perm.ConnectionView,
        Perm.PatientView,
        Perm.PatientEdit,
        Perm.CaseView,
        Perm.CaseEdit,
        Perm.CaseComment,
        Perm.ChatSend,
        Perm.ExportCreate,
        Perm.InsightsView,
    }
)

MATRIX: MappingProxyType[AccessRole, frozenset[Perm]] = MappingProxyType(
    {
        # Runs the organisation; sees no patient or case by role alone.
        AccessRole.ORG_ADMIN: frozenset(
            {
                Perm.OrgView,
                Perm.OrgManageMembers,
                Perm.MemberView,
                Perm.ConnectionView,
                Perm.ExportCreate,
                Perm.ExportBulk,
                Perm.AuditView,
                Perm.KeysManage,
                Perm.RetentionManage,
                Perm.AlertsView,
                Perm.BreakGlassView,
                Perm.ApiTokenManage,
                Perm.InsightsView,
            }
        ),
        AccessRole.CLINICIAN: _CLINIC_CARE
        | {Perm.CaseApprove, Perm.CaseShare, Perm.ReviewLinkManage},
        # No approval, no bulk export.
        AccessRole.STAFF: _CLINIC_CARE,
        # Cases shared with the lab; no patient identity beyond what the case carries.
        AccessRole.DESIGNER: frozenset(
            {
                Perm.OrgView,
                Perm.ConnectionView,
                Perm.CaseView,
                Perm.CaseAccept,
                Perm.CaseComment,
                Perm.DesignEdit,
                Perm.InsightsView,
            }
        ),
        AccessRole.LAB_STAFF: frozenset(
            {
                Perm.OrgView,
                Perm.ConnectionView,
                Perm.CaseView,
                Perm.CaseAccept,
                Perm.CaseStatusSet,
                Perm.ProductionManage,
                Perm.InsightsView,
            }
        ),
        # Their own records only (object rule in policy.py).
        AccessRole.PATIENT: frozenset(
            {
                Perm.OrgView,
                Perm.PatientView,
                Perm.ChatSend,
                Perm.ConsentManage,
                Perm.ExportCreate,
                Perm.AccessLogView,
            }
        ),
        # One revision, as far as the link allows (object rule in policy.py). Approval needs
        # an account: never a link.
        AccessRole.EXTERNAL_REVIEWER: frozenset({Perm.CaseView, Perm.CaseComment}),
        AccessRole.PLATFORM_OPERATOR: frozenset(),
        # Read-only, one organisation, time-boxed and audited (break_glass.py).
        AccessRole.OPERATOR_BREAK_GLASS: frozenset(
            {Perm.OrgView, Perm.MemberView, Perm.ConnectionView, Perm.PatientView, Perm.CaseView}
        ),
    }
)


def permissions_of(role: AccessRole) -> frozenset[Perm]:
    """The permissions a role holds on objects it may see."""
    return MATRIX[role]
