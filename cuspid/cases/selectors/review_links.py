"""Reads of review links: the clinic's list for a revision, and what a link's page shows.

The clinic's list needs ``Perm.ReviewLinkManage`` on the case from the clinic's side. What a
link holder reads (files, pins, their own comments) is bounded by the link: one revision and
the clinic's scans of its case, never the patient, the notes or a file's uploaded name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import F, Q, QuerySet, TextChoices
from django.utils.translation import gettext_lazy as _

from cuspid.access.permissions import Perm
from cuspid.access.policy import require
from cuspid.cases.enums import AttachmentKind
from cuspid.cases.models import Annotation, Attachment, Comment, ReviewLink, Revision
from cuspid.cases.policies import side_of
from cuspid.cases.review_actor import ReviewLinkHolder
from cuspid.cases.workflow import Side
from cuspid.core import clock
from cuspid.core.errors import PermissionDenied
from cuspid.keys.fields import preload_keys
from cuspid.tenancy.actor import Actor


class ReviewLinkStatus(TextChoices):
    ACTIVE = "active", _("Active")
    EXPIRED = "expired", _("Expired")
    REVOKED = "revoked", _("Revoked")


def review_link_status(link: ReviewLink, now: datetime) -> ReviewLinkStatus:
    """Revoked wins over expired; a link expires at ``expires_at`` exactly."""
    if link.revoked_at is not None:
        return ReviewLinkStatus.REVOKED
    if now >= link.expires_at:
        return ReviewLinkStatus.EXPIRED
    return ReviewLinkStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class ReviewLinkRow:
    """One line of the clinic's list."""

    link: ReviewLink
    status: ReviewLinkStatus

    @property
    def revocable(self) -> bool:
        return self.status == ReviewLinkStatus.ACTIVE


def review_link_list_for(*, actor: Actor, revision: Revision) -> list[ReviewLinkRow]:
    """The links of one revision, newest first, with their status, opens and last open.

    Two queries whatever the length: the links (with who made and revoked them) and the
    patient's key for their labels. Raises PermissionDenied without
    ``Perm.ReviewLinkManage`` on the case or from the lab's side.
    """
    require(actor, Perm.ReviewLinkManage, revision.case)
    if side_of(actor, revision.case) != Side.CLINIC:
        raise PermissionDenied
    links = list(
        ReviewLink.objects.filter(revision=revision)
        .select_related("created_by", "revoked_by")
        .order_by("-created_at", "-id")
    )
    preload_keys(links)
    now = clock.now()
    return [ReviewLinkRow(link, review_link_status(link, now)) for link in links]


def review_link_files(link: ReviewLink) -> Q:
    """The files a link shows (a filter on ``Attachment``): the revision's files and the
    clinic's scans of the case; never photos or documents."""
    return Q(case_id=link.case_id) & (
        Q(revision_id=link.revision_id) | Q(revision__isnull=True, kind=AttachmentKind.SCAN)
    )


def review_link_file_list_for(*, holder: ReviewLinkHolder) -> QuerySet[Attachment]:
    """The files the holder's page shows: the clinic's scans first, then the revision's."""
    require(holder, Perm.CaseView, holder.link)
    return (
        Attachment.objects.filter(review_link_files(holder.link))
        .select_related("revision")
        .order_by(F("revision_id").asc(nulls_first=True), "created_at", "id")
    )


def review_link_annotation_list_for(*, holder: ReviewLinkHolder) -> list[Annotation]:
    """The revision's pins, in number order, their texts opened with one key query."""
    require(holder, Perm.CaseView, holder.link)
    pins = list(Annotation.objects.filter(revision_id=holder.revision_id).order_by("number"))
    preload_keys(pins)
    return pins


def review_link_comment_list_for(*, holder: ReviewLinkHolder) -> list[Comment]:
    """The comments made through this link, oldest first (not the clinic's and lab's own
    thread, which may name people the holder has no business knowing)."""
    require(holder, Perm.CaseView, holder.link)
    comments = list(Comment.objects.filter(review_link_id=holder.link.id).order_by("created_at"))
    preload_keys(comments)
    return comments


@dataclass(frozen=True, slots=True)
class ReviewerComment:
    """A link holder's comment as people read it: who signed it, and what it says."""

    author_name: str
    text: str


def reviewer_comment_parts(comment: Comment) -> ReviewerComment:
    """Split a link holder's comment (``services.review_links.reviewer_comment_body``):
    the name on the first line, the text after it."""
    name, _sep, text = (comment.body or "").partition("\n")
    return ReviewerComment(author_name=name, text=text)
