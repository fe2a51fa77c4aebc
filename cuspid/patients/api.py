"""``/api/v1`` operations on patient records (clinic side; a lab never reaches them).

Each operation: the acting actor, ``access_patient`` (404 for absent and foreign alike),
``require`` the permission, then a selector or service. The route guard has already checked
the role (``cuspid.access.routes``) and audits every read of these PHI routes; the services
audit the writes.

Also home to what the case operations share: :class:`SealedPagination` (a page's data keys
opened in one query) and the error shapes.
"""

# No ``from __future__ import annotations``: ninja reads the paginated operations' parameter
# annotations at run time, in the pagination module's namespace, where these names are unknown.

from typing import Any
from uuid import UUID

from django.db.models import Model, QuerySet
from django.http import HttpRequest
from ninja import Query, Router
from ninja.pagination import PageNumberPagination, paginate
from ninja.responses import Status

from cuspid.access.enforce import acting_actor, acting_member
from cuspid.access.interceptor import note_subject_patient
from cuspid.access.permissions import Perm
from cuspid.access.policy import require
from cuspid.keys.fields import preload_keys
from cuspid.patients.models import Patient
from cuspid.patients.policies import access_patient
from cuspid.patients.schemas import (
    ErrorOut,
    PatientCreateIn,
    PatientListQuery,
    PatientOut,
    PatientUpdateIn,
)
from cuspid.patients.selectors import PatientSearch, patient_list_for
from cuspid.patients.services import PatientDetails, patient_create, patient_update

router = Router(tags=["patients"])

# What the error handlers answer (config/api.py), listed so clients see the shapes.
READ_ERRORS: dict[int, type[ErrorOut]] = {403: ErrorOut, 404: ErrorOut}
WRITE_ERRORS: dict[int, type[ErrorOut]] = {403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


class SealedPagination(PageNumberPagination):
    """Page numbers (``page``, ``page_size``), answering ``{items, count}``.

    Guarantees a fixed number of queries whatever the page size: the page is read in one
    query, counted in one, and the data keys its sealed fields need are opened in one
    (``preload_keys``) before the response schema reads them.
    """

    def paginate_queryset(
        self,
        queryset: QuerySet[Any],
        pagination: Any,
        request: HttpRequest,
        **params: Any,
    ) -> Any:
        """The page's rows (a list, keys opened) and the total count."""
        page = super().paginate_queryset(queryset, pagination, request, **params)
        rows: list[Model] = list(page[self.items_attribute])
        preload_keys(rows)
        page[self.items_attribute] = rows
        return page


def _details(payload: PatientCreateIn) -> PatientDetails:
    return PatientDetails(
        given_name=payload.given_name,
        family_name=payload.family_name,
        date_of_birth=payload.date_of_birth,
        sex=payload.sex.value if payload.sex else "",
        email=payload.email,
        phone=payload.phone,
        address=payload.address,
        health_card=payload.health_card,
        chart_number=payload.chart_number,
        preferred_language=payload.preferred_language.value,
        notes=payload.notes,
    )


@router.get(
    "/patients",
    response={200: list[PatientOut], **READ_ERRORS},
    operation_id="patient_list",
)
@paginate(SealedPagination)
def patient_list_api(request: HttpRequest, filters: Query[PatientListQuery]) -> QuerySet[Patient]:
    """Patients of the active clinic, newest first, one page at a time.

    Search is exact, through blind indexes: a health-card number, an email address, or a
    full name with the date of birth. A patient signed in to the portal sees their own record
    only.
    """
    actor = acting_actor(request)
    require(actor, Perm.PatientView, actor.organization)
    search = PatientSearch(
        health_card=filters.health_card,
        email=filters.email,
        given_name=filters.given_name,
        family_name=filters.family_name,
        date_of_birth=filters.date_of_birth,
    )
    return patient_list_for(actor=actor, search=search)


@router.post(
    "/patients",
    response={201: PatientOut, **WRITE_ERRORS},
    operation_id="patient_create",
)
def patient_create_api(request: HttpRequest, payload: PatientCreateIn) -> Status[Patient]:
    """Register a patient in the active clinic; every identifying field is stored sealed.

    422 for bad details (a future date of birth, an unknown value for sex, ...).
    """
    actor = acting_member(request)
    patient = patient_create(actor=actor, details=_details(payload))
    note_subject_patient(request, patient.id)
    return Status(201, patient)


@router.get(
    "/patients/{patient_id}",
    response={200: PatientOut, **READ_ERRORS},
    operation_id="patient_get",
)
def patient_get_api(request: HttpRequest, patient_id: UUID) -> Patient:
    """One patient of the active clinic; 404 for any other."""
    actor = acting_actor(request)
    patient = access_patient(actor, patient_id)
    note_subject_patient(request, patient.id)
    require(actor, Perm.PatientView, patient)
    return patient


@router.put(
    "/patients/{patient_id}",
    response={200: PatientOut, **WRITE_ERRORS},
    operation_id="patient_update",
)
def patient_update_api(request: HttpRequest, patient_id: UUID, payload: PatientUpdateIn) -> Patient:
    """Replace a patient's details (a field left out is emptied); 404 for another clinic's."""
    actor = acting_member(request)
    patient = access_patient(actor, patient_id)
    note_subject_patient(request, patient.id)
    return patient_update(actor=actor, patient=patient, details=_details(payload))
