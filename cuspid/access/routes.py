"""Every route Cuspid serves, declared once: who may reach it and whether it reads PHI.

Pages are keyed by their URL pattern name (``namespace:name``), API operations by their
operation id. :func:`undeclared_routes` lists what a URL resolver or an OpenAPI document
holds that this registry does not (the suite fails on any); at run time
``RouteAccessMiddleware`` and :func:`cuspid.access.api_guard.operation_guard` refuse an
undeclared route with a 404 and an error log line, so a new route cannot forget to be here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from django.urls import URLPattern, URLResolver

from cuspid.access.permissions import Perm


class Access(StrEnum):
    PUBLIC = "public"
    SIGNED_IN = "signed_in"
    PERMISSION = "permission"


@dataclass(frozen=True, slots=True)
class RouteRule:
    """Who may reach a route, and the PHI data type it reads (``""``: none)."""

    access: Access
    perm: Perm | None = None
    phi_data_type: str = ""

    def __post_init__(self) -> None:
        if (self.access == Access.PERMISSION) != (self.perm is not None):
            raise ValueError("A permission rule names its Perm; other rules name none.")

    @property
    def phi(self) -> bool:
        return bool(self.phi_data_type)


PUBLIC = RouteRule(Access.PUBLIC)
SIGNED_IN = RouteRule(Access.SIGNED_IN)


def needs(perm: Perm, *, phi: str = "") -> RouteRule:
    """A route for actors whose role holds ``perm``; ``phi`` names the data type it reads."""
    return RouteRule(Access.PERMISSION, perm, phi)


# A patient's membership tells that they are this clinic's patient: that is PHI.
MEMBERSHIP = "membership"
# Patient records, cases (with their timeline and revisions) and the files of a case.
PATIENT = "patient"
CASE = "case"
CASE_FILE = "case_file"

PAGES: Mapping[str, RouteRule] = MappingProxyType(
    {
        "web:dashboard": SIGNED_IN,
        "web:healthz": PUBLIC,
        "web:readyz": PUBLIC,
        "tenancy:member_list": needs(Perm.MemberView, phi=MEMBERSHIP),
        "tenancy:member_detail": needs(Perm.MemberView, phi=MEMBERSHIP),
        "tenancy:connection_list": needs(Perm.ConnectionView),
        "tenancy:organization_switch": SIGNED_IN,
        # The audit trail (cuspid.audit) for an organisation's admins. Its views audit
        # themselves (the export emits audit:export).
        "audit:event_list": needs(Perm.AuditView),
        "audit:event_export": needs(Perm.AuditView),
        "accounts:profile": SIGNED_IN,
        # --- identity: invitations and API tokens (cuspid.accounts.views.invitations, tokens)
        # Invitations show staff addresses and roles, never patients (patients are invited
        # through their own flow), so the admin pages are not PHI-scoped.
        "accounts:invitation_list": needs(Perm.OrgManageMembers),
        "accounts:invitation_revoke": needs(Perm.OrgManageMembers),
        # The emailed link, reached signed out: the view moves the token into the session and
        # redirects, so the token leaves the address bar (and every Referer) at once.
        "accounts:invitation_open": PUBLIC,
        "accounts:invitation_accept": PUBLIC,
        "accounts:api_token_list": needs(Perm.ApiTokenManage),
        "accounts:api_token_revoke": needs(Perm.ApiTokenManage),
        # --- end invitations and API tokens
        # --- identity: MFA, trusted devices, new-device mail (views.mfa, views.devices)
        # allauth.mfa: the second-factor and passkey sign-in pages are reached mid-sign-in
        # (not yet signed in); allauth's views check the login stage themselves.
        "mfa_authenticate": PUBLIC,
        "mfa_login_webauthn": PUBLIC,
        "mfa_index": SIGNED_IN,
        "mfa_reauthenticate": SIGNED_IN,
        "mfa_reauthenticate_webauthn": SIGNED_IN,
        "mfa_activate_totp": SIGNED_IN,
        "mfa_deactivate_totp": SIGNED_IN,
        "mfa_view_recovery_codes": SIGNED_IN,
        "mfa_generate_recovery_codes": SIGNED_IN,
        "mfa_download_recovery_codes": SIGNED_IN,
        "mfa_list_webauthn": SIGNED_IN,
        "mfa_add_webauthn": SIGNED_IN,
        "mfa_remove_webauthn": SIGNED_IN,
        "mfa_edit_webauthn": SIGNED_IN,
        # Cuspid's own: the security overview, trusted devices (revoking needs a step-up),
        # passkey removal (refuses the last second factor), and "trust this browser?" which
        # is reached mid-sign-in (its view checks the login stage).
        "accounts:security": SIGNED_IN,
        "accounts:device_list": SIGNED_IN,
        "accounts:device_revoke": SIGNED_IN,
        "accounts:device_revoke_all": SIGNED_IN,
        "accounts:webauthn_remove": SIGNED_IN,
        "accounts:device_trust": PUBLIC,
        # --- end MFA and devices
        # --- identity: throttling, sessions, step-up (views.sessions, views.step_up)
        # allauth's sessions page redirects to Cuspid's (config/urls.py).
        "usersessions_list": SIGNED_IN,
        "accounts:session_list": SIGNED_IN,
        "accounts:session_revoke": SIGNED_IN,
        "accounts:session_revoke_others": SIGNED_IN,
        # Every re-authentication (allauth's account_reauthenticate / mfa_reauthenticate
        # redirect here; mfa_reauthenticate_webauthn is the passkey way).
        "accounts:step_up": SIGNED_IN,
        # The view also checks the member is in the admin's organisation (404 otherwise).
        "accounts:member_unlock": needs(Perm.OrgManageMembers),
        # --- end throttling, sessions and step-up
        # --- patients and cases (cuspid.patients.views, cuspid.cases.views). Every one is
        # PHI-scoped: reads are audited record:read, refused changes record:write_deny.
        "patients:patient_list": needs(Perm.PatientView, phi=PATIENT),
        "patients:patient_new": needs(Perm.PatientEdit, phi=PATIENT),
        "patients:patient_detail": needs(Perm.PatientView, phi=PATIENT),
        "patients:patient_edit": needs(Perm.PatientEdit, phi=PATIENT),
        "cases:case_list": needs(Perm.CaseView, phi=CASE),
        # Step 1 of a new case lists the clinic's patients.
        "cases:case_new": needs(Perm.CaseEdit, phi=PATIENT),
        "cases:case_detail": needs(Perm.CaseView, phi=CASE),
        "cases:case_edit": needs(Perm.CaseEdit, phi=CASE),
        # Step 2 (files) and step 3 (send to a lab) of a new case.
        "cases:case_files": needs(Perm.CaseEdit, phi=CASE),
        "cases:case_send": needs(Perm.CaseShare, phi=CASE),
        # Any workflow step: the service checks the action's own permission and side.
        "cases:case_transition": needs(Perm.CaseView, phi=CASE),
        "cases:revision_new": needs(Perm.DesignEdit, phi=CASE),
        "cases:attachment_download": needs(Perm.CaseView, phi=CASE_FILE),
        # --- end patients and cases
        # --- issue 8, viewer: cuspid.cases.views.viewer
        # The meshes themselves stream through cases:attachment_download (CASE_FILE).
        "cases:revision_review": needs(Perm.CaseView, phi=CASE),
        # --- end viewer
        # --- issue 8, review: cuspid.cases.views.review
        # The pins and comments panels (HTMX) and their writes; the services check the rest.
        "cases:revision_annotations": needs(Perm.CaseView, phi=CASE),
        "cases:annotation_new": needs(Perm.CaseComment, phi=CASE),
        "cases:annotation_remove": needs(Perm.CaseComment, phi=CASE),
        "cases:revision_comments": needs(Perm.CaseView, phi=CASE),
        "cases:comment_new": needs(Perm.CaseComment, phi=CASE),
        # The review flow: the lab sends its latest revision, the clinic sends it back.
        "cases:revision_send_for_review": needs(Perm.DesignEdit, phi=CASE),
        "cases:revision_request_changes": needs(Perm.CaseEdit, phi=CASE),
        # The user's own mentions: where (case reference, revision), never the comment. One
        # named by id is case-scoped: someone else's (or a withdrawn case's) is an audited 404.
        "cases:mention_list": SIGNED_IN,
        "cases:mention_open": needs(Perm.CaseView, phi=CASE),
        "cases:mention_read_all": SIGNED_IN,
        # --- end review
        # --- issue 8, approvals: cuspid.cases.views.approvals
        # The clinician approves the revision shown (the service checks the side, step-up,
        # the state and that the revision is the latest).
        "cases:revision_approve": needs(Perm.CaseApprove, phi=CASE),
        # --- end approvals
        # --- issue 8, packages: cuspid.cases.views.packages
        # Lab staff of the case's lab make the package, download it (each download audited by
        # the service) and print its work order; the views also check the lab's side.
        "cases:package_create": needs(Perm.ProductionManage, phi=CASE),
        "cases:package_download": needs(Perm.ProductionManage, phi=CASE_FILE),
        "cases:package_workorder": needs(Perm.ProductionManage, phi=CASE),
        # --- end packages
        # --- issue 8, review_links: cuspid.cases.views.review_links
        # The clinic's panel (list, create) and revoke; the services check the clinic side.
        "cases:review_link_panel": needs(Perm.ReviewLinkManage, phi=CASE),
        "cases:review_link_revoke": needs(Perm.ReviewLinkManage, phi=CASE),
        # Reached with the link's token alone (no account): the views check the token on
        # every request and audit each open, file and refusal themselves.
        "cases:review_link_page": PUBLIC,
        "cases:review_link_file": PUBLIC,
        "cases:review_link_comment": PUBLIC,
        # --- end review_links
        # --- issue 8, compare: cuspid.cases.views.compare
        # Asking for a comparison derives data from the case's files: a case read, computed
        # by the platform; a break-glass operator only looks (the view needs a member).
        "cases:revision_compare": needs(Perm.CaseView, phi=CASE),
        "cases:revision_compare_request": needs(Perm.CaseView, phi=CASE),
        "cases:comparison_distances": needs(Perm.CaseView, phi=CASE_FILE),
        # --- end compare
        # --- issue 9, suggestions: cuspid.cases.views.suggestions
        # Asking runs the design engine on the case's scans for the lab's designer; watching
        # it and reading its segmentation are case reads.
        "cases:suggestion_request": needs(Perm.DesignEdit, phi=CASE),
        "cases:suggestion_status": needs(Perm.CaseView, phi=CASE),
        "cases:suggestion_labels": needs(Perm.CaseView, phi=CASE_FILE),
        # --- end suggestions
        # --- issue 8, insights: cuspid.cases.views.insights
        # Counts, durations and rates of the organisation's cases, and member names: no
        # patient and no case is shown, so these are not PHI-scoped reads.
        "cases:insights": needs(Perm.InsightsView),
        "cases:insights_csv": needs(Perm.InsightsView),
        # --- end insights
        # The view decides: operators start grants, admins (Perm.BreakGlassView) list them.
        "access:break_glass": SIGNED_IN,
        "accounts:language_set": PUBLIC,
        # allauth: sign-in, sign-out, password reset are reached signed out; allauth's views
        # check the rest themselves (sign-up is closed, the email page answers 404).
        "account_email": PUBLIC,
        "account_login": PUBLIC,
        "account_logout": PUBLIC,
        "account_inactive": PUBLIC,
        "account_signup": PUBLIC,
        "account_reauthenticate": SIGNED_IN,
        "account_email_verification_sent": PUBLIC,
        "account_change_password": SIGNED_IN,
        "account_set_password": SIGNED_IN,
        "account_reset_password": PUBLIC,
        "account_confirm_login_code": PUBLIC,
        "account_confirm_email": PUBLIC,
        "account_reset_password_from_key_done": PUBLIC,
        "account_reset_password_from_key": PUBLIC,
        "account_reset_password_done": PUBLIC,
        # The API's own pages; its operations are declared in OPERATIONS.
        "api:openapi-json": PUBLIC,
        "api:openapi-view": SIGNED_IN,
        "api:api-root": PUBLIC,
    }
)

OPERATIONS: Mapping[str, RouteRule] = MappingProxyType(
    {
        "me_get": SIGNED_IN,
        "me_active_organization_set": SIGNED_IN,
        "organization_get": SIGNED_IN,
        "member_list": needs(Perm.MemberView, phi=MEMBERSHIP),
        "member_get": needs(Perm.MemberView, phi=MEMBERSHIP),
        "lab_connection_list": needs(Perm.ConnectionView),
        "lab_connection_get": needs(Perm.ConnectionView),
        # --- patients and cases (cuspid.patients.api, cuspid.cases.api)
        "patient_list": needs(Perm.PatientView, phi=PATIENT),
        "patient_create": needs(Perm.PatientEdit, phi=PATIENT),
        "patient_get": needs(Perm.PatientView, phi=PATIENT),
        "patient_update": needs(Perm.PatientEdit, phi=PATIENT),
        "case_list": needs(Perm.CaseView, phi=CASE),
        "case_create": needs(Perm.CaseEdit, phi=CASE),
        "case_get": needs(Perm.CaseView, phi=CASE),
        "case_update": needs(Perm.CaseEdit, phi=CASE),
        "case_send": needs(Perm.CaseShare, phi=CASE),
        "case_transition": needs(Perm.CaseView, phi=CASE),
        "case_event_list": needs(Perm.CaseView, phi=CASE),
        "attachment_list": needs(Perm.CaseView, phi=CASE),
        "attachment_upload": needs(Perm.CaseEdit, phi=CASE),
        "attachment_download": needs(Perm.CaseView, phi=CASE_FILE),
        "revision_list": needs(Perm.CaseView, phi=CASE),
        "revision_create": needs(Perm.DesignEdit, phi=CASE),
        "revision_get": needs(Perm.CaseView, phi=CASE),
        # --- issue 8, viewer: cuspid.cases.api.viewer
        "revision_mesh_list": needs(Perm.CaseView, phi=CASE),
        # --- end viewer
        # --- issue 8, review: cuspid.cases.api.review
        "annotation_list": needs(Perm.CaseView, phi=CASE),
        "annotation_create": needs(Perm.CaseComment, phi=CASE),
        "annotation_delete": needs(Perm.CaseComment, phi=CASE),
        "comment_list": needs(Perm.CaseView, phi=CASE),
        "comment_create": needs(Perm.CaseComment, phi=CASE),
        "review_request_changes": needs(Perm.CaseEdit, phi=CASE),
        # The caller's own mentions (where, never what); one named by id as on the page.
        "mention_list": SIGNED_IN,
        "mention_read": needs(Perm.CaseView, phi=CASE),
        "mention_read_all": SIGNED_IN,
        # --- end review
        # --- issue 8, approvals: cuspid.cases.api.approvals
        "revision_approve": needs(Perm.CaseApprove, phi=CASE),
        # The record, its signature and key id: for everyone who sees the case (the lab too).
        "approval_get": needs(Perm.CaseView, phi=CASE),
        # A public key and the statement texts: nothing about any case or patient.
        "approval_public_key": SIGNED_IN,
        # --- end approvals
        # --- issue 8, packages: cuspid.cases.api.packages
        "package_create": needs(Perm.ProductionManage, phi=CASE),
        # That a package exists, and when: anyone who sees the case.
        "package_get": needs(Perm.CaseView, phi=CASE),
        "package_download": needs(Perm.ProductionManage, phi=CASE_FILE),
        # --- end packages
        # --- issue 8, review_links: cuspid.cases.api.review_links
        "review_link_list": needs(Perm.ReviewLinkManage, phi=CASE),
        "review_link_create": needs(Perm.ReviewLinkManage, phi=CASE),
        "review_link_revoke": needs(Perm.ReviewLinkManage, phi=CASE),
        # --- end review_links
        # --- issue 8, compare: cuspid.cases.api.compare
        "comparison_request": needs(Perm.CaseView, phi=CASE),
        "comparison_get": needs(Perm.CaseView, phi=CASE),
        "comparison_distances": needs(Perm.CaseView, phi=CASE_FILE),
        # --- end compare
        # --- issue 9, suggestions: cuspid.cases.api.suggestions
        "suggestion_request": needs(Perm.DesignEdit, phi=CASE),
        "suggestion_get": needs(Perm.CaseView, phi=CASE),
        "suggestion_labels": needs(Perm.CaseView, phi=CASE_FILE),
        # --- end suggestions
        # --- issue 8, insights: cuspid.cases.api.insights
        "insights_get": needs(Perm.InsightsView),
        # --- end insights
    }
)


def page_rule(view_name: str) -> RouteRule | None:
    """The declaration of a page, or ``None`` when it has none."""
    return PAGES.get(view_name)


def operation_rule(operation_id: str | None) -> RouteRule | None:
    """The declaration of an API operation, or ``None`` when it has none."""
    return OPERATIONS.get(operation_id or "")


def is_api_operation_view(callback: Any) -> bool:
    """Whether a URL pattern's view is a ninja operation (declared by operation id instead)."""
    return str(getattr(callback, "__qualname__", "")).startswith("PathView.")


def _pattern_names(resolver: URLResolver, namespace: str = "") -> Iterator[str]:
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = pattern.namespace or ""
            prefix = f"{namespace}{inner}:" if inner else namespace
            yield from _pattern_names(pattern, prefix)
        elif isinstance(pattern, URLPattern) and not is_api_operation_view(pattern.callback):
            yield f"{namespace}{pattern.name or '<unnamed ' + str(pattern.pattern) + '>'}"


def _operation_ids(schema: Mapping[str, Any]) -> Iterator[str]:
    for item in schema.get("paths", {}).values():
        for method, operation in item.items():
            if method != "parameters":
                yield str(operation.get("operationId", f"<no id: {method}>"))


def undeclared_routes(resolver: URLResolver, schema: Mapping[str, Any]) -> list[str]:
    """URL pattern names and operation ids the registry does not declare, sorted."""
    pages = {f"page {name}" for name in _pattern_names(resolver) if name not in PAGES}
    operations = {f"operation {op}" for op in _operation_ids(schema) if op not in OPERATIONS}
    return sorted(pages | operations)
