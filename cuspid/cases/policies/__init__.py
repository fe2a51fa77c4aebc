"""Which cases, files and revisions exist for an actor; absent and foreign ones raise the
same ``NotFound``.

A clinic sees its own cases. A lab sees the cases shared with it, for as long as they are
shared: withdrawing a case (or declining it) removes it from the lab at once. Patients see
no case here (their portal comes later). What the role may do with a visible case is
``require(actor, Perm.X, case)``; which side of the case the actor is on is :func:`side_of`.
"""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet

from cuspid.access.enforce import RouteActor
from cuspid.access.matrix import AccessRole
from cuspid.access.policy import role_of
from cuspid.cases.models import Attachment, Case, Revision
from cuspid.cases.workflow import Side
from cuspid.core.errors import NotFound


def visible_cases(actor: RouteActor) -> QuerySet[Case]:
    """The cases the actor's organisation holds (clinic) or is sent (lab)."""
    org = actor.organization
    if role_of(actor) == AccessRole.PATIENT:
        return Case.objects.none()
    if org.is_clinic:
        return Case.objects.filter(organization_id=org.id)
    return Case.objects.filter(shared_with_lab_id=org.id)


def side_of(actor: RouteActor, case: Case) -> Side | None:
    """The actor's side of the case: the owning clinic, the lab it is shared with, or none."""
    org_id = actor.organization.id
    if org_id == case.organization_id:
        return Side.CLINIC
    if case.shared_with_lab_id is not None and org_id == case.shared_with_lab_id:
        return Side.LAB
    return None


def access_case(actor: RouteActor, case_id: UUID) -> Case:
    """The case, if the actor may know it exists; otherwise NotFound."""
    try:
        return (
            visible_cases(actor).select_related("organization", "shared_with_lab").get(id=case_id)
        )
    except Case.DoesNotExist:
        raise NotFound from None


def access_attachment(actor: RouteActor, attachment_id: UUID) -> Attachment:
    """A file of a visible case; otherwise NotFound."""
    try:
        return Attachment.objects.select_related("case", "blob", "revision").get(
            id=attachment_id, case__in=visible_cases(actor)
        )
    except Attachment.DoesNotExist:
        raise NotFound from None


def access_revision(actor: RouteActor, revision_id: UUID) -> Revision:
    """A revision of a visible case; otherwise NotFound."""
    try:
        return Revision.objects.select_related("case", "author").get(
            id=revision_id, case__in=visible_cases(actor)
        )
    except Revision.DoesNotExist:
        raise NotFound from None
