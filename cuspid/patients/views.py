"""Pages for a clinic's patients: the list with its exact search, a record, the form.

Each view takes the actor (``acting_actor``), finds the record with ``access_patient`` (the
same 404 for absent and foreign), names the patient for the audited read, checks the role's
permission with ``require`` and calls a selector or a service. Changes need a member
(``Actor``): a break-glass operator only reads.
"""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from cuspid.access.enforce import acting_actor, member_of
from cuspid.access.interceptor import note_subject_patient
from cuspid.access.permissions import Perm
from cuspid.access.policy import can, require
from cuspid.cases.selectors import case_list_for
from cuspid.core.errors import InvalidInput
from cuspid.keys.fields import preload_keys
from cuspid.patients.enums import Sex
from cuspid.patients.forms import PatientForm, PatientSearchForm
from cuspid.patients.policies import access_patient
from cuspid.patients.selectors import patient_list_for
from cuspid.patients.services import patient_create, patient_update

PER_PAGE = 25
SEARCH_FIELDS = frozenset(PatientSearchForm.base_fields)


@require_GET
def patient_list(request: HttpRequest) -> HttpResponse:
    actor = acting_actor(request)
    require(actor, Perm.PatientView, actor.organization)
    searched = any(request.GET.get(name, "").strip() for name in SEARCH_FIELDS)
    form = PatientSearchForm(request.GET if searched else None)
    page = None
    if not searched or form.is_valid():
        search = form.search() if searched else None
        # The case count of each row is part of the same query (a join, not a query per row).
        patients = patient_list_for(actor=actor, search=search).annotate(case_count=Count("cases"))
        page = Paginator(patients, PER_PAGE).get_page(request.GET.get("page"))
        preload_keys(page.object_list)
    context = {
        "form": form,
        "page": page,
        "searched": searched,
        "may_edit": can(actor, Perm.PatientEdit),
        "may_view_cases": can(actor, Perm.CaseView),
    }
    return render(request, "patients/patient_list.html", context)


@require_GET
def patient_detail(request: HttpRequest, patient_id: UUID) -> HttpResponse:
    actor = acting_actor(request)
    patient = access_patient(actor, patient_id)
    note_subject_patient(request, patient.id)
    require(actor, Perm.PatientView, patient)
    cases = None
    if can(actor, Perm.CaseView):
        cases = list(case_list_for(actor=actor, patient_id=patient.id))
    context = {
        "patient": patient,
        "sex_label": Sex(patient.sex).label if patient.sex in Sex.values else "",
        "cases": cases,
        "may_edit": can(actor, Perm.PatientEdit, patient),
        "may_open_case": can(actor, Perm.CaseEdit, patient),
    }
    return render(request, "patients/patient_detail.html", context)


@require_http_methods(["GET", "POST"])
def patient_new(request: HttpRequest) -> HttpResponse:
    actor = acting_actor(request)
    require(actor, Perm.PatientEdit, actor.organization)
    form = PatientForm(request.POST or None)
    status = 200
    if request.method == "POST":
        member = member_of(actor)
        if form.is_valid():
            try:
                patient = patient_create(actor=member, details=form.details())
            except InvalidInput as exc:
                form.add_error(None, exc.detail)
            else:
                messages.success(request, _("Patient registered."))
                return redirect("patients:patient_detail", patient_id=patient.id)
        status = 422
    return render(
        request, "patients/patient_form.html", {"form": form, "patient": None}, status=status
    )


@require_http_methods(["GET", "POST"])
def patient_edit(request: HttpRequest, patient_id: UUID) -> HttpResponse:
    actor = acting_actor(request)
    patient = access_patient(actor, patient_id)
    note_subject_patient(request, patient.id)
    require(actor, Perm.PatientEdit, patient)
    if request.method == "POST":
        member = member_of(actor)
        form = PatientForm(request.POST)
        if form.is_valid():
            try:
                patient_update(actor=member, patient=patient, details=form.details())
            except InvalidInput as exc:
                form.add_error(None, exc.detail)
            else:
                messages.success(request, _("Patient record saved."))
                return redirect("patients:patient_detail", patient_id=patient.id)
        status = 422
    else:
        form = PatientForm(initial=PatientForm.initial_of(patient))
        status = 200
    return render(
        request, "patients/patient_form.html", {"form": form, "patient": patient}, status=status
    )
