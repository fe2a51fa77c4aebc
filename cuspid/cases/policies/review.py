"""Which pins and mentions exist for an actor; absent and foreign ones raise the same
``NotFound``.

A pin is seen with its case (``visible_cases``); a mention only by the person mentioned,
and only while their organisation sees the case.
"""

from __future__ import annotations

from uuid import UUID

from cuspid.access.enforce import RouteActor
from cuspid.cases.models import Annotation, Comment, Mention, Revision
from cuspid.cases.policies import visible_cases
from cuspid.core.errors import NotFound


def access_annotation(actor: RouteActor, annotation_id: UUID) -> Annotation:
    """A pin on a visible case; otherwise NotFound."""
    try:
        return Annotation.objects.select_related(
            "case", "case__organization", "case__shared_with_lab", "revision"
        ).get(id=annotation_id, case__in=visible_cases(actor))
    except Annotation.DoesNotExist:
        raise NotFound from None


def thread_parent_for(revision: Revision, comment_id: UUID) -> Comment | None:
    """The comment ``comment_id`` of this revision (a reply's parent), or ``None`` when the
    revision has no such comment. The revision was found by ``access_revision``."""
    return Comment.objects.filter(revision=revision, id=comment_id).first()


def access_mention(actor: RouteActor, mention_id: UUID) -> Mention:
    """One of the actor's own mentions on a case their organisation sees; otherwise
    NotFound."""
    try:
        return Mention.objects.select_related("case", "comment__revision").get(
            id=mention_id, user_id=actor.user.pk, case__in=visible_cases(actor)
        )
    except Mention.DoesNotExist:
        raise NotFound from None
