"""Writes of the review of a revision: pins, comments with @mentions, the mention inbox's
read state, and the review flow's two steps (send for review, request changes).

Each service checks the role's permission on the case first (``require``), locks the case
row (``_locked``), checks the case is still open, changes the rows and emits one audit event
per change, in one durable transaction. A closed or cancelled case takes no more pins or
comments: that is a state conflict, ``InvalidTransition`` (409), like every other change the
case's state refuses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from uuid import UUID

from django.db import transaction

from cuspid.access.permissions import Perm
from cuspid.access.policy import PolicyActor, require
from cuspid.accounts.models import User
from cuspid.audit.actions import AuditAction
from cuspid.audit.services import audit_emit
from cuspid.cases import workflow
from cuspid.cases.enums import AttachmentKind
from cuspid.cases.errors import InvalidTransition
from cuspid.cases.models import Annotation, Attachment, Case, Comment, Mention, ReviewLink, Revision
from cuspid.cases.policies import side_of
from cuspid.cases.selectors.review import (
    case_participants_for,
    latest_revision_number,
    mention_list_for,
    mentioned_in,
)
from cuspid.cases.services import (
    ACTION_PERMS,
    CASE_DATA_TYPE,
    PURPOSE,
    _locked,
    _move,
    _require_side,
)
from cuspid.cases.workflow import Action, Side, State
from cuspid.core import clock
from cuspid.core.errors import InvalidInput, NotFound, PermissionDenied
from cuspid.tenancy.actor import Actor

MAX_PIN_TEXT = 2000
MAX_COMMENT = 4000
# Millimetres from the meshes' origin: a dental arch is a few centimetres across, so a pin
# further out than half a metre is a client bug, not a place on the model.
MAX_COORDINATE_MM = 500.0
# A normal shorter than this has no direction to normalise.
MIN_NORMAL_LENGTH = 1e-9

Vector = tuple[float, float, float]


@runtime_checkable
class ReviewLinkHolder(Protocol):
    """The actor of an external review link, as the review-links feature builds it: a
    ``PolicyActor`` with ``AccessRole.EXTERNAL_REVIEWER``, the link's ``revision_id`` and the
    link itself."""

    @property
    def review_link(self) -> ReviewLink: ...


@dataclass(frozen=True, slots=True)
class _RevisionScope:
    """What a review link's permission is checked against: one revision."""

    revision_id: UUID


def _audit(
    action: AuditAction.Case, actor: Actor | PolicyActor, case: Case, target: Annotation | Comment
) -> None:
    audit_emit(
        action=action,
        actor=actor,
        target_type=type(target).__name__.lower(),
        target_id=target.id,
        subject_patient=case.patient_id,
        data_type=CASE_DATA_TYPE,
        purpose=PURPOSE,
    )


def _open_for_review(case: Case, actor: Actor | PolicyActor) -> None:
    """Refuse pins and comments on a case that has ended."""
    state = State(case.status)
    if state in workflow.TERMINAL:
        side = side_of(actor, case) if isinstance(actor, Actor) else None
        raise InvalidTransition(
            "This case has ended: its designs take no more pins or comments.",
            state,
            workflow.allowed_actions(state, side),
        )


def _vector(values: Sequence[object], what: str) -> Vector:
    if isinstance(values, str | bytes) or len(values) != 3:
        raise InvalidInput(f"The {what} is three numbers (x, y, z).")
    numbers: list[float] = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(f"The {what} is three numbers (x, y, z).")
        number = float(value)
        if not math.isfinite(number):
            raise InvalidInput(f"The {what} has a coordinate that is not a finite number.")
        numbers.append(number)
    return numbers[0], numbers[1], numbers[2]


def pin_geometry(point: Sequence[object], normal: Sequence[object]) -> tuple[Vector, Vector]:
    """The checked point (mm) and unit normal of a pin.

    Raises InvalidInput unless each is three finite numbers, the point lies within
    ``MAX_COORDINATE_MM`` of the origin on every axis and the normal is not zero.
    """
    x, y, z = _vector(point, "point")
    if max(abs(x), abs(y), abs(z)) > MAX_COORDINATE_MM:
        raise InvalidInput(
            f"The point is more than {MAX_COORDINATE_MM:.0f} mm from the model's origin."
        )
    nx, ny, nz = _vector(normal, "normal")
    length = math.sqrt(nx * nx + ny * ny + nz * nz)
    if length < MIN_NORMAL_LENGTH:
        raise InvalidInput("The normal has no direction (it is zero).")
    return (x, y, z), (nx / length, ny / length, nz / length)


def _text(value: str, limit: int, what: str) -> str:
    text = value.strip()
    if not text:
        raise InvalidInput(f"Write the {what}.")
    if len(text) > limit:
        raise InvalidInput(f"The {what} is at most {limit} characters.")
    return text


def _check_pin_attachment(attachment: Attachment, revision: Revision) -> None:
    """A pin sits on a mesh of this revision or on one of the case's clinic scans."""
    on_case = attachment.case_id == revision.case_id
    of_revision = attachment.revision_id in (None, revision.id)
    if not (on_case and of_revision and attachment.kind == AttachmentKind.SCAN):
        raise InvalidInput("A pin sits on a model of this revision or one of the case's scans.")


# --- pins ------------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def annotation_create(
    *,
    actor: Actor,
    revision: Revision,
    point: Sequence[object],
    normal: Sequence[object],
    text: str,
    attachment: Attachment | None = None,
) -> Annotation:
    """Pin a numbered note on a revision: a point on a mesh, the surface normal there, a text.

    Guarantees pins are numbered 1, 2, 3 … per revision in the order they are made (the
    case row is locked while numbering); the normal is stored as a unit vector. Raises
    PermissionDenied without ``Perm.CaseComment`` on the case, InvalidInput for a point or
    normal that is not three finite numbers, a point further than 500 mm from the origin, a
    zero normal, an empty text or one over 2000 characters, or an attachment that is not a
    mesh of this revision or one of the case's scans; InvalidTransition once the case is
    closed or cancelled. Audits ``AuditAction.Case.AnnotationAdded``.
    """
    require(actor, Perm.CaseComment, revision.case)
    where, direction = pin_geometry(point, normal)
    body = _text(text, MAX_PIN_TEXT, "pin's note")
    if attachment is not None:
        _check_pin_attachment(attachment, revision)
    case = _locked(revision.case)
    require(actor, Perm.CaseComment, case)
    _open_for_review(case, actor)
    last = Annotation.objects.filter(revision=revision).order_by("-number").first()
    annotation = Annotation.objects.create(
        case=case,
        patient_id=case.patient_id,
        revision=revision,
        attachment=attachment,
        number=(last.number if last is not None else 0) + 1,
        point=list(where),
        normal=list(direction),
        text=body,
        author=actor.user,
        organization=actor.organization,
    )
    _audit(AuditAction.Case.AnnotationAdded, actor, case, annotation)
    return annotation


@transaction.atomic(durable=True)
def annotation_delete(*, actor: Actor, annotation: Annotation) -> None:
    """Remove a pin its author made; the other pins keep their numbers.

    (A later pin takes the next number after the highest one left, so only the number of a
    deleted last pin is ever given again.) Raises PermissionDenied without
    ``Perm.CaseComment`` or for anyone but the pin's author, InvalidTransition once the case
    is closed or cancelled. Audits ``AuditAction.Case.AnnotationDeleted``.
    """
    require(actor, Perm.CaseComment, annotation.case)
    case = _locked(annotation.case)
    require(actor, Perm.CaseComment, case)
    if annotation.author_id != actor.user.pk:
        raise PermissionDenied("Only the person who placed a pin may remove it.")
    _open_for_review(case, actor)
    _audit(AuditAction.Case.AnnotationDeleted, actor, case, annotation)
    annotation.delete()


# --- comments and mentions -------------------------------------------------------------------


def _comment_add(
    actor: Actor | PolicyActor,
    case: Case,
    revision: Revision,
    body: str,
    parent: Comment | None,
    link: ReviewLink | None,
) -> Comment:
    """Store a comment on a locked, open case, its mentions, and audit it."""
    text = _text(body, MAX_COMMENT, "comment")
    if parent is not None and (parent.revision_id != revision.id or parent.parent_id is not None):
        raise InvalidInput("Reply to a comment that starts a thread on this revision.")
    member = actor if isinstance(actor, Actor) else None
    comment = Comment.objects.create(
        case=case,
        patient_id=case.patient_id,
        revision=revision,
        parent=parent,
        body=text,
        author=member.user if member is not None else None,
        organization=member.organization if member is not None else None,
        review_link=link,
    )
    # Only the case's participants (as the case stands now, under the lock) are notified;
    # nobody is told they mentioned themself.
    people = mentioned_in(text, case_participants_for(case=case))
    author_id = member.user.pk if member is not None else None
    Mention.objects.bulk_create(
        Mention(comment=comment, case=case, user_id=person.user_id)
        for person in people
        if person.user_id != author_id
    )
    _audit(AuditAction.Case.CommentAdded, actor, case, comment)
    return comment


def _live_link(actor: PolicyActor, revision: Revision) -> ReviewLink:
    """The commenting link behind an external reviewer, checked again under the lock."""
    link = actor.review_link if isinstance(actor, ReviewLinkHolder) else None
    if link is None or link.revision_id != revision.id or not link.allow_comments:
        raise PermissionDenied
    # Revocation works at once: the stored row decides, not the copy the request loaded.
    live = ReviewLink.objects.filter(
        pk=link.pk, revoked_at__isnull=True, expires_at__gt=clock.now()
    ).exists()
    if not live:
        raise PermissionDenied
    return link


@transaction.atomic(durable=True)
def comment_create(
    *,
    actor: Actor | PolicyActor,
    revision: Revision,
    body: str,
    parent: Comment | None = None,
) -> Comment:
    """Comment on a revision, or reply to one of its threads, notifying those @mentioned.

    ``actor`` is a member of the case's clinic or lab (the comment's ``author``), or the
    actor of a review link that allows comments (``ReviewLinkHolder``: the comment's
    ``review_link``, no author). Threads are one level deep: ``parent`` is a top-level
    comment of the same revision. Every ``@handle`` naming a participant of the case
    (``case_participants_for``) other than the author becomes a ``Mention``; any other
    ``@word`` stays plain text. Raises PermissionDenied without ``Perm.CaseComment`` on the
    case (for a link: on its own revision, while it is live and allows comments),
    InvalidInput for an empty body or one over 4000 characters or a parent that is a reply
    or belongs to another revision, InvalidTransition once the case is closed or cancelled.
    Audits ``AuditAction.Case.CommentAdded``.
    """
    if isinstance(actor, Actor):
        require(actor, Perm.CaseComment, revision.case)
        link = None
    else:
        require(actor, Perm.CaseComment, _RevisionScope(revision.id))
    case = _locked(revision.case)
    if isinstance(actor, Actor):
        require(actor, Perm.CaseComment, case)
    else:
        link = _live_link(actor, revision)
    _open_for_review(case, actor)
    return _comment_add(actor, case, revision, body, parent, link)


@transaction.atomic(durable=True)
def mention_mark_read(*, user: User, mention: Mention) -> Mention:
    """Mark one of the user's own mentions read (again: no change).

    Raises NotFound for someone else's mention. Not audited: the read state is the user's
    own notification, and no record of the case changes.
    """
    if mention.user_id != user.pk:
        raise NotFound
    if mention.read_at is None:
        mention.read_at = clock.now()
        mention.save(update_fields=["read_at", "updated_at"])
    return mention


@transaction.atomic(durable=True)
def mention_mark_all_read(*, actor: Actor) -> int:
    """Mark every unread mention of the actor, on cases their organisation sees, read;
    returns how many. Not audited (as ``mention_mark_read``)."""
    now = clock.now()
    return mention_list_for(actor=actor, unread_only=True).update(read_at=now, updated_at=now)


# --- the review flow -------------------------------------------------------------------------


def _require_latest(case: Case, revision: Revision, side: Side, what: str) -> None:
    latest = latest_revision_number(case)
    if revision.number != latest:
        state = State(case.status)
        raise InvalidTransition(
            f"Revision {revision.number} has been superseded by revision {latest}: "
            f"{what} the latest revision.",
            state,
            workflow.allowed_actions(state, side),
        )


@transaction.atomic(durable=True)
def revision_send_for_review(*, actor: Actor, revision: Revision) -> Case:
    """The lab sends its latest revision to the clinic for review (``send_for_review``).

    Raises PermissionDenied without ``Perm.DesignEdit`` or from the clinic's side,
    InvalidTransition (409) for a revision that is not the case's latest or unless the case
    is in design with a revision made since the last change request. Audits
    ``AuditAction.Case.SentForReview``.
    """
    require(actor, ACTION_PERMS[Action.SEND_FOR_REVIEW], revision.case)
    case = _locked(revision.case)
    _require_side(actor, case, Side.LAB)
    _require_latest(case, revision, Side.LAB, "send")
    _move(actor, case, Action.SEND_FOR_REVIEW)
    return case


@transaction.atomic(durable=True)
def revision_request_changes(*, actor: Actor, revision: Revision, reason: str) -> Comment:
    """The clinic sends the latest revision back to the lab with the reason, which is also
    posted as a comment on the revision (mentions included).

    Guarantees the transition, its timeline entry (with the reason) and the comment commit
    together or not at all. Raises PermissionDenied without ``Perm.CaseComment`` and
    ``Perm.CaseEdit`` or from the lab's side, InvalidInput without a reason or with one over
    4000 characters, InvalidTransition (409) for a revision that is not the case's latest or
    unless the case awaits review. Audits ``AuditAction.Case.ChangesRequested`` and
    ``AuditAction.Case.CommentAdded``.
    """
    require(actor, Perm.CaseComment, revision.case)
    require(actor, ACTION_PERMS[Action.REQUEST_CHANGES], revision.case)
    case = _locked(revision.case)
    _require_side(actor, case, Side.CLINIC)
    _require_latest(case, revision, Side.CLINIC, "ask for changes on")
    text = _text(reason, MAX_COMMENT, "reason")
    _move(actor, case, Action.REQUEST_CHANGES, note=text)
    comment = _comment_add(actor, case, revision, text, None, None)
    return comment
