"""API shapes for pins, comments and mentions on a revision.

Pins and comments carry their sealed text to the case's two sides (both may read the
revision). A mention answers where it is (case reference, revision number) and never what
the comment says: the inbox is no place for clinical text.
"""

from __future__ import annotations

import datetime
from typing import Any
from uuid import UUID

from django.urls import reverse
from ninja import Field, Schema

from cuspid.cases.models import Comment, Mention
from cuspid.cases.schemas import OrganizationRefOut, UserRefOut
from cuspid.cases.services.review import MAX_COMMENT, MAX_PIN_TEXT


class AnnotationCreateIn(Schema):
    """A pin placed on the revision's model (the viewer reports where the user clicked)."""

    point: list[float] = Field(
        ...,
        min_length=3,
        max_length=3,
        description="Where, [x, y, z] in millimetres (each within 500 mm of the origin).",
    )
    normal: list[float] = Field(
        ...,
        min_length=3,
        max_length=3,
        description="The surface normal there, [x, y, z]; stored as a unit vector; not zero.",
    )
    text: str = Field(..., min_length=1, max_length=MAX_PIN_TEXT, description="The note.")
    attachment_id: UUID | None = Field(
        None, description="The mesh it sits on: a file of this revision or one of the scans."
    )


class AnnotationOut(Schema):
    """A numbered pin on a revision."""

    id: UUID = Field(..., description="The pin's id.")
    revision_id: UUID = Field(..., description="The revision it belongs to.")
    number: int = Field(..., description="1, 2, 3 … per revision: the number on the marker.")
    point: list[float] = Field(..., description="[x, y, z] in millimetres.")
    normal: list[float] = Field(..., description="The unit surface normal, [x, y, z].")
    text: str = Field(..., description="The note.")
    attachment_id: UUID | None = Field(..., description="The mesh it sits on, or null.")
    author: UserRefOut = Field(..., description="Who placed it.")
    organization: OrganizationRefOut = Field(..., description="For which side.")
    created_at: datetime.datetime = Field(..., description="When.")


class CommentCreateIn(Schema):
    """A comment on a revision, or a reply in one of its threads."""

    body: str = Field(
        ...,
        min_length=1,
        max_length=MAX_COMMENT,
        description="The text; @handle notifies that participant of the case.",
    )
    parent_id: UUID | None = Field(
        None, description="Reply to this top-level comment of the same revision."
    )


class CommentOut(Schema):
    """One comment."""

    id: UUID = Field(..., description="The comment's id.")
    revision_id: UUID = Field(..., description="The revision it is about.")
    parent_id: UUID | None = Field(..., description="The thread's first comment, for a reply.")
    body: str = Field(..., description="The text.")
    author: UserRefOut | None = Field(..., description="Who wrote it; null for a review link.")
    organization: OrganizationRefOut | None = Field(
        ..., description="For which side; null for a review link."
    )
    via_review_link: bool = Field(..., description="Written by an external reviewer.")
    created_at: datetime.datetime = Field(..., description="When.")

    @staticmethod
    def resolve_via_review_link(obj: Comment) -> bool:
        return obj.review_link_id is not None


class CommentThreadOut(CommentOut):
    """A top-level comment with its replies, oldest first."""

    replies: list[CommentOut] = Field(..., description="The replies, oldest first.")


class ReviewRequestChangesIn(Schema):
    """Send the latest revision back to the lab."""

    reason: str = Field(
        ...,
        min_length=1,
        max_length=MAX_COMMENT,
        description="What to change; also posted as a comment on the revision.",
    )


class MentionOut(Schema):
    """Where someone mentioned the caller: never what they wrote."""

    id: UUID = Field(..., description="The mention's id.")
    case_id: UUID = Field(..., description="The case.")
    case_reference: str = Field(..., description='The case number as people read it ("C-00042").')
    revision_id: UUID = Field(..., description="The revision commented on.")
    revision_number: int = Field(..., description="Its number within the case.")
    comment_id: UUID = Field(..., description="The comment (read it on the revision).")
    author: UserRefOut | None = Field(
        ..., description="Who mentioned the caller; null for an external reviewer."
    )
    created_at: datetime.datetime = Field(..., description="When.")
    read_at: datetime.datetime | None = Field(..., description="When it was marked read, or null.")
    review_url: str = Field(..., description="The revision's review page.")

    @staticmethod
    def resolve_author(obj: Mention) -> Any:
        return obj.comment.author

    @staticmethod
    def resolve_case_reference(obj: Mention) -> str:
        return obj.case.reference

    @staticmethod
    def resolve_revision_id(obj: Mention) -> UUID:
        return obj.comment.revision_id

    @staticmethod
    def resolve_revision_number(obj: Mention) -> int:
        return obj.comment.revision.number

    @staticmethod
    def resolve_review_url(obj: Mention) -> str:
        return reverse("cases:revision_review", args=[obj.comment.revision_id])


class MentionReadAllOut(Schema):
    """How many mentions were marked read."""

    marked: int = Field(..., description="Mentions marked read by this call.")
