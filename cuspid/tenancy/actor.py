"""The Actor: who is acting, for which organisation, in which role. Built once per request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from cuspid.accounts.models import User
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization


@dataclass(frozen=True, slots=True)
class Actor:
    """A signed-in user acting through one active membership."""

    user: User
    membership: Membership
    # The user's last full authentication in this session (cuspid.accounts.authtime); the
    # step-up check compares it with its window. ``None`` when unknown (tasks, API tokens).
    authenticated_at: datetime | None = None

    @property
    def organization(self) -> Organization:
        return self.membership.organization

    @property
    def role(self) -> Role:
        return Role(self.membership.role)

    @classmethod
    def of(cls, membership: Membership, *, authenticated_at: datetime | None = None) -> Actor:
        return cls(user=membership.user, membership=membership, authenticated_at=authenticated_at)


class OrganizationActor(Protocol):
    """Anyone acting in one organisation: a member (``Actor``) or, above tenancy, a platform
    operator under a break-glass grant. Tenancy's policies and selectors need only this."""

    @property
    def organization(self) -> Organization: ...
