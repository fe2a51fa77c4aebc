"""``/api/v1`` operations: pins, comments and @mentions on a revision (issue 8).

Each operation: the acting actor, ``access_*`` (404 for absent and foreign alike), the
patient named for the audited read, ``require`` the permission, then a selector or service.
Services audit the writes; 409 once the case has ended (or, for the review flow, for a
revision that is not the latest). A mention is its owner's only, and says where, never what.
"""

# No ``from __future__ import annotations``: ninja reads the paginated operation's parameter
# annotations at run time, in the pagination module's namespace.

from uuid import UUID

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Router
from ninja.pagination import PageNumberPagination, paginate
from ninja.responses import Status

from cuspid.access.enforce import acting_actor, acting_member
from cuspid.access.interceptor import note_subject_patient
from cuspid.access.permissions import Perm
from cuspid.access.policy import require
from cuspid.cases.api import TRANSITION_ERRORS, requested_revision
from cuspid.cases.models import Annotation, Attachment, Comment, Mention
from cuspid.cases.policies.review import access_annotation, access_mention, thread_parent_for
from cuspid.cases.schemas.review import (
    AnnotationCreateIn,
    AnnotationOut,
    CommentCreateIn,
    CommentOut,
    CommentThreadOut,
    MentionOut,
    MentionReadAllOut,
    ReviewRequestChangesIn,
)
from cuspid.cases.selectors.review import (
    annotation_list_for,
    comment_threads_for,
    mention_list_for,
)
from cuspid.cases.services.review import (
    annotation_create,
    annotation_delete,
    comment_create,
    mention_mark_all_read,
    mention_mark_read,
    revision_request_changes,
)
from cuspid.core.errors import InvalidInput
from cuspid.keys.fields import preload_keys
from cuspid.patients.api import READ_ERRORS

router = Router(tags=["review"])


# --- pins ------------------------------------------------------------------------------------


@router.get(
    "/revisions/{revision_id}/annotations",
    response={200: list[AnnotationOut], **READ_ERRORS},
    operation_id="annotation_list",
)
def annotation_list_api(request: HttpRequest, revision_id: UUID) -> list[Annotation]:
    """The revision's pins, by number, with who placed them."""
    revision = requested_revision(request, revision_id, Perm.CaseView)
    annotations = list(annotation_list_for(revision=revision))
    preload_keys(annotations)
    return annotations


@router.post(
    "/revisions/{revision_id}/annotations",
    response={201: AnnotationOut, **TRANSITION_ERRORS},
    operation_id="annotation_create",
)
def annotation_create_api(
    request: HttpRequest, revision_id: UUID, payload: AnnotationCreateIn
) -> Status[Annotation]:
    """Pin a numbered note on the revision's model (numbers are 1, 2, 3 … per revision).

    422 for a point further than 500 mm from the origin, a zero normal, or an
    ``attachment_id`` that is not a mesh of this revision or one of the case's scans; 409
    once the case is closed or cancelled.
    """
    actor = acting_member(request)
    revision = requested_revision(request, revision_id, Perm.CaseComment)
    attachment: Attachment | None = None
    if payload.attachment_id is not None:
        # Looked up within this case only: a foreign id is "not a mesh of this revision",
        # the same answer as an id that exists nowhere.
        attachment = Attachment.objects.filter(
            id=payload.attachment_id, case_id=revision.case_id
        ).first()
        if attachment is None:
            raise InvalidInput("A pin sits on a model of this revision or one of the case's scans.")
    annotation = annotation_create(
        actor=actor,
        revision=revision,
        point=payload.point,
        normal=payload.normal,
        text=payload.text,
        attachment=attachment,
    )
    return Status(201, annotation)


@router.delete(
    "/annotations/{annotation_id}",
    response={204: None, **TRANSITION_ERRORS},
    operation_id="annotation_delete",
)
def annotation_delete_api(request: HttpRequest, annotation_id: UUID) -> Status[None]:
    """Remove a pin you placed; the other pins keep their numbers. 403 for anyone else's."""
    actor = acting_member(request)
    annotation = access_annotation(actor, annotation_id)
    note_subject_patient(request, annotation.patient_id)
    require(actor, Perm.CaseComment, annotation.case)
    annotation_delete(actor=actor, annotation=annotation)
    return Status(204, None)


# --- comments --------------------------------------------------------------------------------


@router.get(
    "/revisions/{revision_id}/comments",
    response={200: list[CommentThreadOut], **READ_ERRORS},
    operation_id="comment_list",
)
def comment_list_api(request: HttpRequest, revision_id: UUID) -> list[Comment]:
    """The revision's comment threads, oldest first, each with its replies oldest first."""
    revision = requested_revision(request, revision_id, Perm.CaseView)
    threads = list(comment_threads_for(revision=revision))
    # A reply is sealed with the same patient's key as its thread: one query opens it.
    preload_keys(threads)
    return threads


@router.post(
    "/revisions/{revision_id}/comments",
    response={201: CommentOut, **TRANSITION_ERRORS},
    operation_id="comment_create",
)
def comment_create_api(
    request: HttpRequest, revision_id: UUID, payload: CommentCreateIn
) -> Status[Comment]:
    """Comment on the revision, or reply to a thread (``parent_id``: one level deep).

    ``@handle`` notifies that participant of the case (the clinic's and the lab's people who
    work on cases); any other ``@word`` stays plain text. 422 for a ``parent_id`` that is
    not a top-level comment of this revision; 409 once the case is closed or cancelled.
    """
    actor = acting_member(request)
    revision = requested_revision(request, revision_id, Perm.CaseComment)
    parent: Comment | None = None
    if payload.parent_id is not None:
        parent = thread_parent_for(revision, payload.parent_id)
        if parent is None:
            raise InvalidInput("Reply to a comment that starts a thread on this revision.")
    comment = comment_create(actor=actor, revision=revision, body=payload.body, parent=parent)
    return Status(201, comment)


@router.post(
    "/revisions/{revision_id}/request-changes",
    response={201: CommentOut, **TRANSITION_ERRORS},
    operation_id="review_request_changes",
)
def review_request_changes_api(
    request: HttpRequest, revision_id: UUID, payload: ReviewRequestChangesIn
) -> Status[Comment]:
    """Send the latest revision back to the lab (the clinic), the reason posted as a comment.

    403 for the lab's side or a role that may not; 409 for a superseded revision or unless
    the case awaits review.
    """
    actor = acting_member(request)
    revision = requested_revision(request, revision_id, Perm.CaseEdit)
    comment = revision_request_changes(actor=actor, revision=revision, reason=payload.reason)
    return Status(201, comment)


# --- mentions --------------------------------------------------------------------------------


@router.get(
    "/mentions",
    response={200: list[MentionOut], **READ_ERRORS},
    operation_id="mention_list",
)
@paginate(PageNumberPagination)
def mention_list_api(request: HttpRequest) -> QuerySet[Mention]:
    """Where you were @mentioned, newest first, on cases of the organisation you act in."""
    return mention_list_for(actor=acting_actor(request))


@router.post(
    "/mentions/read",
    response={200: MentionReadAllOut, **READ_ERRORS},
    operation_id="mention_read_all",
)
def mention_read_all_api(request: HttpRequest) -> MentionReadAllOut:
    """Mark all your unread mentions (in the organisation you act in) read."""
    marked = mention_mark_all_read(actor=acting_member(request))
    return MentionReadAllOut(marked=marked)


@router.post(
    "/mentions/{mention_id}/read",
    response={200: MentionOut, **READ_ERRORS},
    operation_id="mention_read",
)
def mention_read_api(request: HttpRequest, mention_id: UUID) -> Mention:
    """Mark one of your mentions read; 404 for anyone else's."""
    actor = acting_member(request)
    mention = access_mention(actor, mention_id)
    return mention_mark_read(user=actor.user, mention=mention)
