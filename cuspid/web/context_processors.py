"""Navigation for the base layout, by role."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from cuspid.access.enforce import route_actor
from cuspid.access.matrix import AccessRole
from cuspid.access.permissions import Perm
from cuspid.access.policy import can, role_of

# Pages below a section mark that section's nav item as current.
_SECTION_OF = {
    "patient_new": "patient_list",
    "patient_detail": "patient_list",
    "patient_edit": "patient_list",
    "case_new": "case_list",
    "case_detail": "case_list",
    "case_edit": "case_list",
    "case_files": "case_list",
    "case_send": "case_list",
    "revision_new": "case_list",
    "member_detail": "member_list",
    "invitation_list": "member_list",
    "account_change_password": "security",
    "device_list": "security",
    "session_list": "security",
    "step_up": "security",
    "mfa_index": "security",
    "mfa_activate_totp": "security",
    "mfa_deactivate_totp": "security",
    "mfa_view_recovery_codes": "security",
    "mfa_generate_recovery_codes": "security",
    "mfa_list_webauthn": "security",
    "mfa_add_webauthn": "security",
}


@dataclass(frozen=True)
class NavItem:
    label: str | Promise
    url: str
    url_name: str


def navigation(request: HttpRequest) -> dict[str, object]:
    """``nav_items`` for the signed-in user's role, and the organisations for the switcher."""
    # A member, or an operator reading under a live break-glass grant (set by the route check).
    actor = route_actor(request)
    member = getattr(request, "actor", None)
    items: list[NavItem] = []
    if getattr(request, "user", None) is not None and request.user.is_authenticated:
        items.append(NavItem(_("Dashboard"), reverse("web:dashboard"), "dashboard"))
        # Patients are a clinic's staff's list; a patient reaches their own record elsewhere.
        if (
            actor is not None
            and actor.organization.is_clinic
            and role_of(actor) != AccessRole.PATIENT
            and can(actor, Perm.PatientView)
        ):
            items.append(NavItem(_("Patients"), reverse("patients:patient_list"), "patient_list"))
        if actor is not None and can(actor, Perm.CaseView):
            items.append(NavItem(_("Cases"), reverse("cases:case_list"), "case_list"))
        if actor is not None and can(actor, Perm.ConnectionView):
            items.append(
                NavItem(_("Connections"), reverse("tenancy:connection_list"), "connection_list")
            )
        if actor is not None and can(actor, Perm.MemberView):
            items.append(NavItem(_("Members"), reverse("tenancy:member_list"), "member_list"))
        if actor is not None and can(actor, Perm.AuditView):
            items.append(NavItem(_("Audit log"), reverse("audit:event_list"), "event_list"))
        if (actor is not None and can(actor, Perm.BreakGlassView)) or (
            member is None and request.user.is_staff
        ):
            items.append(NavItem(_("Break-glass"), reverse("access:break_glass"), "break_glass"))
        if actor is not None and can(actor, Perm.ApiTokenManage):
            items.append(
                NavItem(_("API tokens"), reverse("accounts:api_token_list"), "api_token_list")
            )
        items.append(NavItem(_("Security"), reverse("accounts:security"), "security"))
        items.append(NavItem(_("Profile"), reverse("accounts:profile"), "profile"))
    match = getattr(request, "resolver_match", None)
    current = match.url_name if match else None
    return {
        "nav_items": items,
        "nav_current": _SECTION_OF.get(current or "", current),
        "actor": actor,
        "switchable_memberships": getattr(request, "memberships", []),
    }
