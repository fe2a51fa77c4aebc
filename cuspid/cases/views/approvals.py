"""Pages: approving a revision from its review page, and the approval panel (issue 8).

The panel (``cases/review/_approval.html``) shows a clinician of the case's clinic, on the
latest revision of a case awaiting review, the statement they approve and an "Approve
revision n" button; once approved, it shows everyone who sees the case who approved it,
when, and whether the signature verifies. The button posts to :func:`revision_approve_page`
(a plain form post: a step-up on the way is a full-page detour that comes back here).
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import URLPattern, path, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from cuspid.access.enforce import RouteActor, acting_actor, member_of
from cuspid.access.interceptor import note_subject_patient
from cuspid.access.permissions import Perm
from cuspid.access.policy import can, require
from cuspid.accounts.policies import has_recent_auth
from cuspid.cases.approvals import CURRENT_STATEMENT_VERSION, statement_text
from cuspid.cases.errors import InvalidTransition
from cuspid.cases.models import Revision
from cuspid.cases.policies import access_revision, side_of
from cuspid.cases.selectors.approvals import (
    ApprovalRecord,
    approval_get_for,
    approval_public_keys,
    approval_record,
)
from cuspid.cases.services.approvals import revision_approve
from cuspid.cases.workflow import Side, State
from cuspid.core.errors import InvalidInput, StepUpRequired
from cuspid.tenancy.actor import Actor


def _review_url(revision_id: UUID) -> str:
    return reverse("cases:revision_review", args=[revision_id])


@require_POST
def revision_approve_page(request: HttpRequest, revision_id: UUID) -> HttpResponse:
    """Approve the revision under the statement the page showed, then back to its page.

    A refusal the page can explain (superseded, no longer in review, an outdated statement)
    comes back as a message; a role or side that may not approve gets the 403 page; without
    a recent sign-in, the step-up page, which returns to the review page.
    """
    actor = acting_actor(request)
    revision = access_revision(actor, revision_id)
    note_subject_patient(request, revision.patient_id)
    require(actor, Perm.CaseApprove, revision.case)
    member = member_of(actor)
    review = _review_url(revision.id)
    try:
        revision_approve(
            actor=member,
            revision=revision,
            statement_version=request.POST.get("statement_version", ""),
        )
    except StepUpRequired:
        return redirect(f"{reverse('accounts:step_up')}?{urlencode({'next': review})}")
    except (InvalidTransition, InvalidInput) as exc:
        messages.error(request, _("Not approved. %(detail)s") % {"detail": exc.detail})
    else:
        messages.success(
            request,
            _("Revision %(number)s approved. Your approval is signed; the lab can produce it.")
            % {"number": revision.number},
        )
    return redirect(review)


urlpatterns: list[URLPattern] = [
    path(
        "revisions/<uuid:revision_id>/approve/",
        revision_approve_page,
        name="revision_approve",
    ),
]


@dataclass(frozen=True, slots=True)
class ApprovalPanel:
    """What the approval panel shows: the approval; or, to a clinician of the case's clinic
    on the latest revision of a case awaiting review, the statement and the button. (The
    review page itself says when a newer revision supersedes the one shown.)"""

    record: ApprovalRecord | None
    may_approve: bool
    statement_version: str
    statement_text: str
    needs_step_up: bool


def panel_context(request: HttpRequest, actor: RouteActor, revision: Revision) -> dict[str, object]:
    """What the approval panel on the revision review page needs (merged into its context).

    The caller found the revision with ``access_revision`` and checked ``Perm.CaseView``.
    """
    case = revision.case
    approval = approval_get_for(revision=revision)
    record = approval_record(approval, approval_public_keys()) if approval is not None else None
    member = actor if isinstance(actor, Actor) else None
    approver = (
        member is not None
        and side_of(member, case) == Side.CLINIC
        and can(member, Perm.CaseApprove, case)
    )
    # Only a clinician of the case's clinic, only while the case awaits review, unapproved.
    reviewing = approver and record is None and case.status == State.AWAITING_REVIEW
    may_approve = reviewing and (
        Revision.objects.filter(case_id=case.id).order_by("-number").values_list("id", flat=True)[0]
        == revision.id
    )
    panel = ApprovalPanel(
        record=record,
        may_approve=may_approve,
        statement_version=CURRENT_STATEMENT_VERSION,
        statement_text=statement_text(
            CURRENT_STATEMENT_VERSION,
            revision_number=revision.number,
            case_reference=case.reference,
        ),
        needs_step_up=may_approve and member is not None and not has_recent_auth(member),
    )
    return {"approval_panel": panel}
