"""Which review links exist for whom: the clinic that manages them, and the link's holder.

A clinic member finds a link of its own cases with :func:`access_review_link` (the same
``NotFound`` for absent and foreign). A link holder is known only by the token they present:
:func:`review_link_holder` answers the holder of a working link and refuses everything else
(an expired, revoked, unknown or malformed token) with one error, :class:`ReviewLinkRefused`,
which is a ``NotFound``: the page answers the same 404 to all of them.
"""

from __future__ import annotations

import re
from datetime import datetime
from uuid import UUID

from cuspid.access.enforce import RouteActor
from cuspid.access.permissions import Perm
from cuspid.access.policy import can
from cuspid.accounts.secrets import secret_digest
from cuspid.cases.models import ReviewLink
from cuspid.cases.policies import visible_cases
from cuspid.cases.review_actor import ReviewLinkHolder
from cuspid.core import clock
from cuspid.core.errors import NotFound

# What ``secrets.token_urlsafe(32)`` makes: 43 URL-safe characters. Anything else is not a
# link Cuspid issued and is refused before any lookup.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


class ReviewLinkRefused(NotFound):
    """A token that opens nothing. ``link`` is the link its hash matched (expired or
    revoked), or ``None`` (unknown or malformed): the audit trail targets the link only
    when there is one."""

    def __init__(self, link: ReviewLink | None) -> None:
        super().__init__()
        self.link = link


def access_review_link(actor: RouteActor, link_id: UUID) -> ReviewLink:
    """A review link of a case the actor's organisation may see; otherwise NotFound.

    What the actor may do with it is ``require(actor, Perm.ReviewLinkManage, link.case)``
    and the clinic side (the services check both).
    """
    try:
        return ReviewLink.objects.select_related("case", "revision").get(
            id=link_id, case__in=visible_cases(actor)
        )
    except ReviewLink.DoesNotExist:
        raise NotFound from None


def review_link_is_active(link: ReviewLink, now: datetime) -> bool:
    """Whether the link opens at ``now``: not revoked, and before ``expires_at`` exactly."""
    return link.revoked_at is None and now < link.expires_at


def review_link_holder(token: str, *, now: datetime | None = None) -> ReviewLinkHolder:
    """The holder of the working link whose token is ``token``.

    Read from the database on every call (no cache), so a revocation holds from the very
    next request. Raises :class:`ReviewLinkRefused` (a ``NotFound``) for a malformed or
    unknown token (``link`` is ``None``) and for an expired or revoked link (``link`` is
    set). Audits nothing: the caller does (``services.review_links.review_link_resolve``).
    """
    if not TOKEN_SHAPE.fullmatch(token):
        raise ReviewLinkRefused(None)
    link = (
        ReviewLink.objects.select_related("case", "revision", "organization")
        .filter(token_hash=secret_digest(token))
        .first()
    )
    if link is None:
        raise ReviewLinkRefused(None)
    if not review_link_is_active(link, now if now is not None else clock.now()):
        raise ReviewLinkRefused(link)
    return ReviewLinkHolder(link)


def can_comment_review_link(holder: ReviewLinkHolder) -> bool:
    """Whether the holder may comment: the link allows it and the role holds case:comment."""
    return holder.link.allow_comments and can(holder, Perm.CaseComment, holder.link)
