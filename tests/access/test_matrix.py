"""The role x permission matrix, pinned pair by pair. A change to the matrix changes a line here.

Every (role, permission) pair is listed: a new role or permission without its lines fails
``test_the_table_covers_every_pair``.
"""

from __future__ import annotations

import pytest

from cuspid.access.matrix import MATRIX, AccessRole, permissions_of
from cuspid.access.permissions import Perm
from cuspid.tenancy.enums import Role

YES, NO = True, False

TABLE: list[tuple[AccessRole, Perm, bool]] = [
    # org_admin
    (AccessRole.ORG_ADMIN, Perm.OrgView, YES),
    (AccessRole.ORG_ADMIN, Perm.OrgManageMembers, YES),
    (AccessRole.ORG_ADMIN, Perm.MemberView, YES),
    (AccessRole.ORG_ADMIN, Perm.ConnectionView, YES),
    (AccessRole.ORG_ADMIN, Perm.PatientView, NO),
    (AccessRole.ORG_ADMIN, Perm.PatientEdit, NO),
    (AccessRole.ORG_ADMIN, Perm.CaseView, NO),
    (AccessRole.ORG_ADMIN, Perm.CaseEdit, NO),
    (AccessRole.ORG_ADMIN, Perm.CaseApprove, NO),
    (AccessRole.ORG_ADMIN, Perm.CaseShare, NO),
    (AccessRole.ORG_ADMIN, Perm.CaseComment, NO),
    (AccessRole.ORG_ADMIN, Perm.CaseStatusSet, NO),
    (AccessRole.ORG_ADMIN, Perm.DesignEdit, NO),
    (AccessRole.ORG_ADMIN, Perm.ProductionManage, NO),
    (AccessRole.ORG_ADMIN, Perm.ChatSend, NO),
    (AccessRole.ORG_ADMIN, Perm.ConsentManage, NO),
    (AccessRole.ORG_ADMIN, Perm.ExportCreate, YES),
    (AccessRole.ORG_ADMIN, Perm.ExportBulk, YES),
    (AccessRole.ORG_ADMIN, Perm.AuditView, YES),
    (AccessRole.ORG_ADMIN, Perm.AccessLogView, NO),
    (AccessRole.ORG_ADMIN, Perm.KeysManage, YES),
    (AccessRole.ORG_ADMIN, Perm.RetentionManage, YES),
    (AccessRole.ORG_ADMIN, Perm.AlertsView, YES),
    (AccessRole.ORG_ADMIN, Perm.BreakGlassView, YES),
    (AccessRole.ORG_ADMIN, Perm.BreakGlassStart, NO),
    # clinician
    (AccessRole.CLINICIAN, Perm.OrgView, YES),
    (AccessRole.CLINICIAN, Perm.OrgManageMembers, NO),
    (AccessRole.CLINICIAN, Perm.MemberView, NO),
    (AccessRole.CLINICIAN, Perm.ConnectionView, YES),
    (AccessRole.CLINICIAN, Perm.PatientView, YES),
    (AccessRole.CLINICIAN, Perm.PatientEdit, YES),
    (AccessRole.CLINICIAN, Perm.CaseView, YES),
    (AccessRole.CLINICIAN, Perm.CaseEdit, YES),
    (AccessRole.CLINICIAN, Perm.CaseApprove, YES),
    (AccessRole.CLINICIAN, Perm.CaseShare, YES),
    (AccessRole.CLINICIAN, Perm.CaseComment, YES),
    (AccessRole.CLINICIAN, Perm.CaseStatusSet, NO),
    (AccessRole.CLINICIAN, Perm.DesignEdit, NO),
    (AccessRole.CLINICIAN, Perm.ProductionManage, NO),
    (AccessRole.CLINICIAN, Perm.ChatSend, YES),
    (AccessRole.CLINICIAN, Perm.ConsentManage, NO),
    (AccessRole.CLINICIAN, Perm.ExportCreate, YES),
    (AccessRole.CLINICIAN, Perm.ExportBulk, NO),
    (AccessRole.CLINICIAN, Perm.AuditView, NO),
    (AccessRole.CLINICIAN, Perm.AccessLogView, NO),
    (AccessRole.CLINICIAN, Perm.KeysManage, NO),
    (AccessRole.CLINICIAN, Perm.RetentionManage, NO),
    (AccessRole.CLINICIAN, Perm.AlertsView, NO),
    (AccessRole.CLINICIAN, Perm.BreakGlassView, NO),
    (AccessRole.CLINICIAN, Perm.BreakGlassStart, NO),
    # staff
    (AccessRole.STAFF, Perm.OrgView, YES),
    (AccessRole.STAFF, Perm.OrgManageMembers, NO),
    (AccessRole.STAFF, Perm.MemberView, NO),
    (AccessRole.STAFF, Perm.ConnectionView, YES),
    (AccessRole.STAFF, Perm.PatientView, YES),
    (AccessRole.STAFF, Perm.PatientEdit, YES),
    (AccessRole.STAFF, Perm.CaseView, YES),
    (AccessRole.STAFF, Perm.CaseEdit, YES),
    (AccessRole.STAFF, Perm.CaseApprove, NO),
    (AccessRole.STAFF, Perm.CaseShare, NO),
    (AccessRole.STAFF, Perm.CaseComment, YES),
    (AccessRole.STAFF, Perm.CaseStatusSet, NO),
    (AccessRole.STAFF, Perm.DesignEdit, NO),
    (AccessRole.STAFF, Perm.ProductionManage, NO),
    (AccessRole.STAFF, Perm.ChatSend, YES),
    (AccessRole.STAFF, Perm.ConsentManage, NO),
    (AccessRole.STAFF, Perm.ExportCreate, YES),
    (AccessRole.STAFF, Perm.ExportBulk, NO),
    (AccessRole.STAFF, Perm.AuditView, NO),
    (AccessRole.STAFF, Perm.AccessLogView, NO),
    (AccessRole.STAFF, Perm.KeysManage, NO),
    (AccessRole.STAFF, Perm.RetentionManage, NO),
    (AccessRole.STAFF, Perm.AlertsView, NO),
    (AccessRole.STAFF, Perm.BreakGlassView, NO),
    (AccessRole.STAFF, Perm.BreakGlassStart, NO),
    # designer
    (AccessRole.DESIGNER, Perm.OrgView, YES),
    (AccessRole.DESIGNER, Perm.OrgManageMembers, NO),
    (AccessRole.DESIGNER, Perm.MemberView, NO),
    (AccessRole.DESIGNER, Perm.ConnectionView, YES),
    (AccessRole.DESIGNER, Perm.PatientView, NO),
    (AccessRole.DESIGNER, Perm.PatientEdit, NO),
    (AccessRole.DESIGNER, Perm.CaseView, YES),
    (AccessRole.DESIGNER, Perm.CaseEdit, NO),
    (AccessRole.DESIGNER, Perm.CaseApprove, NO),
    (AccessRole.DESIGNER, Perm.CaseShare, NO),
    (AccessRole.DESIGNER, Perm.CaseComment, YES),
    (AccessRole.DESIGNER, Perm.CaseStatusSet, NO),
    (AccessRole.DESIGNER, Perm.DesignEdit, YES),
    (AccessRole.DESIGNER, Perm.ProductionManage, NO),
    (AccessRole.DESIGNER, Perm.ChatSend, NO),
    (AccessRole.DESIGNER, Perm.ConsentManage, NO),
    (AccessRole.DESIGNER, Perm.ExportCreate, NO),
    (AccessRole.DESIGNER, Perm.ExportBulk, NO),
    (AccessRole.DESIGNER, Perm.AuditView, NO),
    (AccessRole.DESIGNER, Perm.AccessLogView, NO),
    (AccessRole.DESIGNER, Perm.KeysManage, NO),
    (AccessRole.DESIGNER, Perm.RetentionManage, NO),
    (AccessRole.DESIGNER, Perm.AlertsView, NO),
    (AccessRole.DESIGNER, Perm.BreakGlassView, NO),
    (AccessRole.DESIGNER, Perm.BreakGlassStart, NO),
    # lab_staff
    (AccessRole.LAB_STAFF, Perm.OrgView, YES),
    (AccessRole.LAB_STAFF, Perm.OrgManageMembers, NO),
    (AccessRole.LAB_STAFF, Perm.MemberView, NO),
    (AccessRole.LAB_STAFF, Perm.ConnectionView, YES),
    (AccessRole.LAB_STAFF, Perm.PatientView, NO),
    (AccessRole.LAB_STAFF, Perm.PatientEdit, NO),
    (AccessRole.LAB_STAFF, Perm.CaseView, YES),
    (AccessRole.LAB_STAFF, Perm.CaseEdit, NO),
    (AccessRole.LAB_STAFF, Perm.CaseApprove, NO),
    (AccessRole.LAB_STAFF, Perm.CaseShare, NO),
    (AccessRole.LAB_STAFF, Perm.CaseComment, NO),
    (AccessRole.LAB_STAFF, Perm.CaseStatusSet, YES),
    (AccessRole.LAB_STAFF, Perm.DesignEdit, NO),
    (AccessRole.LAB_STAFF, Perm.ProductionManage, YES),
    (AccessRole.LAB_STAFF, Perm.ChatSend, NO),
    (AccessRole.LAB_STAFF, Perm.ConsentManage, NO),
    (AccessRole.LAB_STAFF, Perm.ExportCreate, NO),
    (AccessRole.LAB_STAFF, Perm.ExportBulk, NO),
    (AccessRole.LAB_STAFF, Perm.AuditView, NO),
    (AccessRole.LAB_STAFF, Perm.AccessLogView, NO),
    (AccessRole.LAB_STAFF, Perm.KeysManage, NO),
    (AccessRole.LAB_STAFF, Perm.RetentionManage, NO),
    (AccessRole.LAB_STAFF, Perm.AlertsView, NO),
    (AccessRole.LAB_STAFF, Perm.BreakGlassView, NO),
    (AccessRole.LAB_STAFF, Perm.BreakGlassStart, NO),
    # patient
    (AccessRole.PATIENT, Perm.OrgView, YES),
    (AccessRole.PATIENT, Perm.OrgManageMembers, NO),
    (AccessRole.PATIENT, Perm.MemberView, NO),
    (AccessRole.PATIENT, Perm.ConnectionView, NO),
    (AccessRole.PATIENT, Perm.PatientView, YES),
    (AccessRole.PATIENT, Perm.PatientEdit, NO),
    (AccessRole.PATIENT, Perm.CaseView, NO),
    (AccessRole.PATIENT, Perm.CaseEdit, NO),
    (AccessRole.PATIENT, Perm.CaseApprove, NO),
    (AccessRole.PATIENT, Perm.CaseShare, NO),
    (AccessRole.PATIENT, Perm.CaseComment, NO),
    (AccessRole.PATIENT, Perm.CaseStatusSet, NO),
    (AccessRole.PATIENT, Perm.DesignEdit, NO),
    (AccessRole.PATIENT, Perm.ProductionManage, NO),
    (AccessRole.PATIENT, Perm.ChatSend, YES),
    (AccessRole.PATIENT, Perm.ConsentManage, YES),
    (AccessRole.PATIENT, Perm.ExportCreate, YES),
    (AccessRole.PATIENT, Perm.ExportBulk, NO),
    (AccessRole.PATIENT, Perm.AuditView, NO),
    (AccessRole.PATIENT, Perm.AccessLogView, YES),
    (AccessRole.PATIENT, Perm.KeysManage, NO),
    (AccessRole.PATIENT, Perm.RetentionManage, NO),
    (AccessRole.PATIENT, Perm.AlertsView, NO),
    (AccessRole.PATIENT, Perm.BreakGlassView, NO),
    (AccessRole.PATIENT, Perm.BreakGlassStart, NO),
    # external_reviewer
    (AccessRole.EXTERNAL_REVIEWER, Perm.OrgView, NO),
    (AccessRole.EXTERNAL_REVIEWER, Perm.OrgManageMembers, NO),
    (AccessRole.EXTERNAL_REVIEWER, Perm.MemberView, NO),
    (AccessRole.EXTERNAL_REVIEWER, Perm.ConnectionView, NO),
    (AccessRole.EXTERNAL_REVIEWER, Perm.PatientView, NO),
    (AccessRole.EXTERNAL_REVIEWER, Perm.PatientEdit, NO),
    (AccessRole.EXTERNAL_REVIEWER, Perm.CaseView, YES),
    (AccessRole.EXTERNAL_REVIEWER, Perm.CaseEdit, NO),
    (AccessRole.EXTERNAL_REVIEWER, Perm.CaseApprove, YES),
    (AccessRole.EXTERNAL_REVIEWER, Perm.CaseShare, NO),
    (AccessRole.EXTERNAL_REVIEWER, Perm.CaseComment, YES),
    (AccessRole.EXTERNAL_REVIEWER, Perm.CaseStatusSet, NO),
    (AccessRole.EXTERNAL_REVIEWER, Perm.DesignEdit, NO),
    (AccessRole.EXTERNAL_REVIEWER, Perm.ProductionManage, NO),
    (AccessRole.EXTERNAL_REVIEWER, Perm.ChatSend, NO),
    (AccessRole.EXTERNAL_REVIEWER, Perm.ConsentManage, NO),
    (AccessRole.EXTERNAL_REVIEWER, Perm.ExportCreate, NO),
    (AccessRole.EXTERNAL_REVIEWER, Perm.ExportBulk, NO),
    (AccessRole.EXTERNAL_REVIEWER, Perm.AuditView, NO),
    (AccessRole.EXTERNAL_REVIEWER, Perm.AccessLogView, NO),
    (AccessRole.EXTERNAL_REVIEWER, Perm.KeysManage, NO),
    (AccessRole.EXTERNAL_REVIEWER, Perm.RetentionManage, NO),
    (AccessRole.EXTERNAL_REVIEWER, Perm.AlertsView, NO),
    (AccessRole.EXTERNAL_REVIEWER, Perm.BreakGlassView, NO),
    (AccessRole.EXTERNAL_REVIEWER, Perm.BreakGlassStart, NO),
    # platform_operator
    (AccessRole.PLATFORM_OPERATOR, Perm.OrgView, NO),
    (AccessRole.PLATFORM_OPERATOR, Perm.OrgManageMembers, NO),
    (AccessRole.PLATFORM_OPERATOR, Perm.MemberView, NO),
    (AccessRole.PLATFORM_OPERATOR, Perm.ConnectionView, NO),
    (AccessRole.PLATFORM_OPERATOR, Perm.PatientView, NO),
    (AccessRole.PLATFORM_OPERATOR, Perm.PatientEdit, NO),
    (AccessRole.PLATFORM_OPERATOR, Perm.CaseView, NO),
    (AccessRole.PLATFORM_OPERATOR, Perm.CaseEdit, NO),
    (AccessRole.PLATFORM_OPERATOR, Perm.CaseApprove, NO),
    (AccessRole.PLATFORM_OPERATOR, Perm.CaseShare, NO),
    (AccessRole.PLATFORM_OPERATOR, Perm.CaseComment, NO),
    (AccessRole.PLATFORM_OPERATOR, Perm.CaseStatusSet, NO),
    (AccessRole.PLATFORM_OPERATOR, Perm.DesignEdit, NO),
    (AccessRole.PLATFORM_OPERATOR, Perm.ProductionManage, NO),
    (AccessRole.PLATFORM_OPERATOR, Perm.ChatSend, NO),
    (AccessRole.PLATFORM_OPERATOR, Perm.ConsentManage, NO),
    (AccessRole.PLATFORM_OPERATOR, Perm.ExportCreate, NO),
    (AccessRole.PLATFORM_OPERATOR, Perm.ExportBulk, NO),
    (AccessRole.PLATFORM_OPERATOR, Perm.AuditView, NO),
    (AccessRole.PLATFORM_OPERATOR, Perm.AccessLogView, NO),
    (AccessRole.PLATFORM_OPERATOR, Perm.KeysManage, NO),
    (AccessRole.PLATFORM_OPERATOR, Perm.RetentionManage, NO),
    (AccessRole.PLATFORM_OPERATOR, Perm.AlertsView, NO),
    (AccessRole.PLATFORM_OPERATOR, Perm.BreakGlassView, NO),
    (AccessRole.PLATFORM_OPERATOR, Perm.BreakGlassStart, NO),
    # operator_break_glass
    (AccessRole.OPERATOR_BREAK_GLASS, Perm.OrgView, YES),
    (AccessRole.OPERATOR_BREAK_GLASS, Perm.OrgManageMembers, NO),
    (AccessRole.OPERATOR_BREAK_GLASS, Perm.MemberView, YES),
    (AccessRole.OPERATOR_BREAK_GLASS, Perm.ConnectionView, YES),
    (AccessRole.OPERATOR_BREAK_GLASS, Perm.PatientView, YES),
    (AccessRole.OPERATOR_BREAK_GLASS, Perm.PatientEdit, NO),
    (AccessRole.OPERATOR_BREAK_GLASS, Perm.CaseView, YES),
    (AccessRole.OPERATOR_BREAK_GLASS, Perm.CaseEdit, NO),
    (AccessRole.OPERATOR_BREAK_GLASS, Perm.CaseApprove, NO),
    (AccessRole.OPERATOR_BREAK_GLASS, Perm.CaseShare, NO),
    (AccessRole.OPERATOR_BREAK_GLASS, Perm.CaseComment, NO),
    (AccessRole.OPERATOR_BREAK_GLASS, Perm.CaseStatusSet, NO),
    (AccessRole.OPERATOR_BREAK_GLASS, Perm.DesignEdit, NO),
    (AccessRole.OPERATOR_BREAK_GLASS, Perm.ProductionManage, NO),
    (AccessRole.OPERATOR_BREAK_GLASS, Perm.ChatSend, NO),
    (AccessRole.OPERATOR_BREAK_GLASS, Perm.ConsentManage, NO),
    (AccessRole.OPERATOR_BREAK_GLASS, Perm.ExportCreate, NO),
    (AccessRole.OPERATOR_BREAK_GLASS, Perm.ExportBulk, NO),
    (AccessRole.OPERATOR_BREAK_GLASS, Perm.AuditView, NO),
    (AccessRole.OPERATOR_BREAK_GLASS, Perm.AccessLogView, NO),
    (AccessRole.OPERATOR_BREAK_GLASS, Perm.KeysManage, NO),
    (AccessRole.OPERATOR_BREAK_GLASS, Perm.RetentionManage, NO),
    (AccessRole.OPERATOR_BREAK_GLASS, Perm.AlertsView, NO),
    (AccessRole.OPERATOR_BREAK_GLASS, Perm.BreakGlassView, NO),
    (AccessRole.OPERATOR_BREAK_GLASS, Perm.BreakGlassStart, NO),
]


@pytest.mark.parametrize(("role", "perm", "granted"), TABLE)
def test_role_holds_exactly_the_listed_permissions(
    role: AccessRole, perm: Perm, granted: bool
) -> None:
    assert (perm in permissions_of(role)) is granted


def test_the_table_covers_every_pair_once() -> None:
    pairs = [(role, perm) for role, perm, _granted in TABLE]
    assert len(pairs) == len(set(pairs))
    assert set(pairs) == {(role, perm) for role in AccessRole for perm in Perm}


def test_every_membership_role_is_in_the_matrix() -> None:
    assert {str(role) for role in Role} <= {str(role) for role in MATRIX}
    assert set(MATRIX) == set(AccessRole)


def test_design_summary_holds() -> None:
    # DESIGN.md: staff approve nothing and export nothing in bulk; designers see no patient
    # identity; the operator holds nothing by default and only reads under break-glass.
    assert Perm.CaseApprove not in permissions_of(AccessRole.STAFF)
    assert Perm.ExportBulk not in permissions_of(AccessRole.STAFF)
    assert Perm.PatientView not in permissions_of(AccessRole.DESIGNER)
    assert permissions_of(AccessRole.PLATFORM_OPERATOR) == frozenset()
    writes = {p for p in Perm if not p.value.endswith(":view")}
    assert not permissions_of(AccessRole.OPERATOR_BREAK_GLASS) & writes
