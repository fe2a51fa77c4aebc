"""The holder of a review link: someone without an account, shown one revision for a while.

The policy (``cuspid.access.policy``) knows this actor by its role, ``EXTERNAL_REVIEWER``,
and lets it see only objects whose ``revision_id`` is the link's. The matrix gives that role
case:view and case:comment, never case:approve: approval needs an account.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from cuspid.access.matrix import AccessRole
from cuspid.audit.identity import AuditIdentity
from cuspid.cases.models import ReviewLink

# The audit trail names a link holder by the link (they have no user id): ``review_link:<id>``.
AUDIT_REASON_PREFIX = "review_link:"
# Who tried a link that matched nothing: a role and nothing identifying.
UNKNOWN_LINK_HOLDER = AuditIdentity(role=str(AccessRole.EXTERNAL_REVIEWER))


@dataclass(frozen=True, slots=True)
class ReviewLinkHolder:
    """Whoever presents a working review link (``PolicyActor`` and ``ReviewLinkActor``).

    Acts in no organisation and as no user. Its audit identity is the role, the clinic that
    shared the link (so the clinic's audit trail lists every open) and the link's id.
    """

    link: ReviewLink

    @property
    def access_role(self) -> AccessRole:
        return AccessRole.EXTERNAL_REVIEWER

    @property
    def organization_id(self) -> UUID | None:
        return None

    @property
    def user_id(self) -> UUID | None:
        return None

    @property
    def revision_id(self) -> UUID:
        return self.link.revision_id

    @property
    def review_link(self) -> ReviewLink:
        """The link (what ``services.review.comment_create`` stores on the comment)."""
        return self.link

    def audit_identity(self) -> AuditIdentity:
        return AuditIdentity(
            role=str(AccessRole.EXTERNAL_REVIEWER),
            organization_id=self.link.organization_id,
            system_reason=f"{AUDIT_REASON_PREFIX}{self.link.id}",
        )
