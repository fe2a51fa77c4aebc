"""The dashboard: one page per role, each saying what to do next."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from cuspid.access.permissions import Perm
from cuspid.access.policy import can
from cuspid.cases.selectors import case_list_for, case_status_counts
from cuspid.keys.fields import preload_keys
from cuspid.tenancy.enums import Role
from cuspid.tenancy.selectors import lab_connection_list_for, member_list_for

RECENT_CASES = 5


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """The signed-in user's home. Users without an organisation see the operator page."""
    actor = getattr(request, "actor", None)
    if actor is None:
        return render(request, "web/dashboard_operator.html")
    context: dict[str, object] = {"role": actor.role, "organization": actor.organization}
    if can(actor, Perm.ConnectionView):
        context["connections"] = list(lab_connection_list_for(actor=actor))
    if can(actor, Perm.CaseView):
        recent = list(case_list_for(actor=actor)[:RECENT_CASES])
        if actor.organization.is_clinic:
            # The clinic's rows name their patient: one query opens their keys.
            preload_keys(recent)
        context["recent_cases"] = recent
        context["case_counts"] = case_status_counts(actor)
    if can(actor, Perm.MemberView):
        context["member_count"] = member_list_for(actor=actor).filter(is_active=True).count()
    template = "web/dashboard_patient.html" if actor.role == Role.PATIENT else "web/dashboard.html"
    return render(request, template, context)
