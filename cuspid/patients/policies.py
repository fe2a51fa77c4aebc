"""Which patient records exist for an actor. Absent and foreign records raise the same
``NotFound``; what the role may do with a visible record is ``require(actor, Perm.X, obj)``.
"""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet

from cuspid.access.enforce import RouteActor
from cuspid.access.matrix import AccessRole
from cuspid.access.policy import role_of
from cuspid.core.errors import NotFound
from cuspid.patients.models import Patient


def visible_patients(actor: RouteActor) -> QuerySet[Patient]:
    """The patients the actor's organisation holds; a patient sees only their own record."""
    patients = Patient.objects.filter(organization_id=actor.organization.id)
    if role_of(actor) == AccessRole.PATIENT:
        patients = patients.filter(patient_user_id=actor.user.pk)
    return patients


def access_patient(actor: RouteActor, patient_id: UUID) -> Patient:
    """The patient, if the actor may know it exists; otherwise NotFound."""
    try:
        return visible_patients(actor).select_related("organization").get(id=patient_id)
    except Patient.DoesNotExist:
        raise NotFound from None
