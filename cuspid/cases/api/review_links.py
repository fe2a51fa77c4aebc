"""``/api/v1`` operations on review links: list, create and revoke the links of a revision.

The clinic's clinicians only (``Perm.ReviewLinkManage``, the clinic's side): each operation
finds the revision or link with an ``access_*`` policy (404 for absent and foreign alike),
then calls the selector or service, which checks the permission and the side (403). The
token is answered once, by the create operation. The link holder's page and file stream are
pages (``cuspid.cases.views.review_links``), not API operations: the holder has no account.
"""

from uuid import UUID

from django.http import HttpRequest
from django.urls import reverse
from ninja import Router
from ninja.responses import Status

from cuspid.access.enforce import acting_member
from cuspid.access.interceptor import note_subject_patient
from cuspid.cases.policies import access_revision
from cuspid.cases.policies.review_links import access_review_link
from cuspid.cases.schemas.review_links import (
    ReviewLinkCreatedOut,
    ReviewLinkCreateIn,
    ReviewLinkOut,
)
from cuspid.cases.selectors.review_links import (
    ReviewLinkRow,
    review_link_list_for,
    review_link_status,
)
from cuspid.cases.services.review_links import review_link_create, review_link_revoke
from cuspid.core import clock
from cuspid.patients.api import READ_ERRORS, WRITE_ERRORS

router = Router(tags=["review links"])


@router.get(
    "/revisions/{revision_id}/review-links",
    response={200: list[ReviewLinkOut], **READ_ERRORS},
    operation_id="review_link_list",
)
def review_link_list_api(request: HttpRequest, revision_id: UUID) -> list[ReviewLinkOut]:
    """The revision's review links, newest first: status, opens, last open; never a token."""
    actor = acting_member(request)
    revision = access_revision(actor, revision_id)
    note_subject_patient(request, revision.patient_id)
    return [ReviewLinkOut.of(row) for row in review_link_list_for(actor=actor, revision=revision)]


@router.post(
    "/revisions/{revision_id}/review-links",
    response={201: ReviewLinkCreatedOut, **WRITE_ERRORS},
    operation_id="review_link_create",
)
def review_link_create_api(
    request: HttpRequest, revision_id: UUID, payload: ReviewLinkCreateIn
) -> Status[ReviewLinkCreatedOut]:
    """Create a link that shows this revision to someone without an account.

    The answer holds the token and the full address, this once: Cuspid keeps only the
    token's SHA-256. 422 for an expiry outside 1 to 168 hours or a passcode under 6
    characters.
    """
    actor = acting_member(request)
    revision = access_revision(actor, revision_id)
    note_subject_patient(request, revision.patient_id)
    link, token = review_link_create(
        actor=actor,
        revision=revision,
        expires_in_hours=payload.expires_in_hours,
        allow_comments=payload.allow_comments,
        passcode=payload.passcode,
        label=payload.label,
        request=request,
    )
    url = request.build_absolute_uri(reverse("cases:review_link_page", args=[token]))
    row = ReviewLinkRow(link, review_link_status(link, clock.now()))
    return Status(201, ReviewLinkCreatedOut.created(row, token, url))


@router.post(
    "/review-links/{link_id}/revoke",
    response={200: ReviewLinkOut, **WRITE_ERRORS},
    operation_id="review_link_revoke",
)
def review_link_revoke_api(request: HttpRequest, link_id: UUID) -> ReviewLinkOut:
    """Revoke a link: its very next request (its page, a file) answers 404. Revoking a
    revoked link changes nothing."""
    actor = acting_member(request)
    link = access_review_link(actor, link_id)
    note_subject_patient(request, link.patient_id)
    link = review_link_revoke(actor=actor, link=link, request=request)
    return ReviewLinkOut.of(ReviewLinkRow(link, review_link_status(link, clock.now())))
