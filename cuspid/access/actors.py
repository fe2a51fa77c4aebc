"""The platform operator acting in one organisation under a live break-glass grant."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from cuspid.access.matrix import AccessRole
from cuspid.access.models import BreakGlassGrant
from cuspid.accounts.models import User
from cuspid.audit.identity import AuditIdentity
from cuspid.tenancy.models import Organization


@dataclass(frozen=True, slots=True)
class OperatorActor:
    """Reads one organisation, read-only (``AccessRole.OPERATOR_BREAK_GLASS``), while live."""

    user: User
    grant: BreakGlassGrant

    @property
    def access_role(self) -> AccessRole:
        return AccessRole.OPERATOR_BREAK_GLASS

    @property
    def organization(self) -> Organization:
        return self.grant.organization

    @property
    def organization_id(self) -> UUID:
        return self.grant.organization_id

    @property
    def user_id(self) -> UUID:
        return self.user.pk

    def audit_identity(self) -> AuditIdentity:
        return AuditIdentity(
            user_id=self.user.pk,
            role=str(AccessRole.OPERATOR_BREAK_GLASS),
            organization_id=self.grant.organization_id,
        )
