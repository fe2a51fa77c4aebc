"""The Actor: who is acting, for which organisation, in which role. Built once per request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cuspid.accounts.models import User
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization


@dataclass(frozen=True, slots=True)
class Actor:
    """A signed-in user acting through one active membership."""

    user: User
    membership: Membership

    @property
    def organization(self) -> Organization:
        return self.membership.organization

    @property
    def role(self) -> Role:
        return Role(self.membership.role)

    @classmethod
    def of(cls, membership: Membership) -> Actor:
        return cls(user=membership.user, membership=membership)


class OrganizationActor(Protocol):
    """Anyone acting in one organisation: a member (``Actor``) or, above tenancy, a platform
    operator under a break-glass grant. Tenancy's policies and selectors need only this."""

    @property
    def organization(self) -> Organization: ...
