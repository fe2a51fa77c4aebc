"""Every permission Cuspid knows, as one StrEnum. The matrix (``matrix.py``) grants them."""

from __future__ import annotations

from enum import StrEnum


class Perm(StrEnum):
    """``<resource>:<verb>``. New features add members here and a row in the matrix test."""

    OrgView = "org:view"
    OrgManageMembers = "org:manage_members"
    MemberView = "member:view"
    ConnectionView = "connection:view"
    PatientView = "patient:view"
    PatientEdit = "patient:edit"
    CaseView = "case:view"
    CaseEdit = "case:edit"
    CaseApprove = "case:approve"
    CaseShare = "case:share"
    # A lab takes a shared case into its work, or declines it.
    CaseAccept = "case:accept"
    CaseComment = "case:comment"
    # Review links: one revision shown to someone without an account (clinicians).
    ReviewLinkManage = "review_link:manage"
    CaseStatusSet = "case:status_set"
    DesignEdit = "design:edit"
    ProductionManage = "production:manage"
    # How long the organisation's cases take: aggregates, no patient.
    InsightsView = "insights:view"
    ChatSend = "chat:send"
    ConsentManage = "consent:manage"
    ExportCreate = "export:create"
    ExportBulk = "export:bulk"
    AuditView = "audit:view"
    AccessLogView = "access_log:view"
    KeysManage = "keys:manage"
    RetentionManage = "retention:manage"
    AlertsView = "alerts:view"
    BreakGlassView = "break_glass:view"
    BreakGlassStart = "break_glass:start"
    # Integration credentials (API tokens) bound to the admin's own membership.
    ApiTokenManage = "api_token:manage"
