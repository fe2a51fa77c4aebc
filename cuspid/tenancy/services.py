"""Writes to tenancy data. Each service is atomic and checks its rules before it changes rows."""

from __future__ import annotations

from zoneinfo import available_timezones

from django.db import transaction

from cuspid.accounts.models import User
from cuspid.core.errors import InvalidInput
from cuspid.tenancy.enums import ROLES_BY_KIND, ConnectionStatus, OrganizationKind, Role
from cuspid.tenancy.models import LabConnection, Membership, Organization


@transaction.atomic(durable=True)
def organization_create(
    *, kind: OrganizationKind, name: str, country: str, region: str, time_zone: str
) -> Organization:
    """Create a clinic or a lab. Raises InvalidInput for an unknown kind or time zone."""
    if kind not in OrganizationKind.values:
        raise InvalidInput("Unknown organization kind.")
    if time_zone not in available_timezones():
        raise InvalidInput("Unknown time zone.")
    return Organization.objects.create(
        kind=kind, name=name, country=country.upper(), region=region.upper(), time_zone=time_zone
    )


@transaction.atomic(durable=True)
def membership_create(*, user: User, organization: Organization, role: Role) -> Membership:
    """Give a user a role in an organisation.

    Raises InvalidInput when the role does not exist in that kind of organisation
    (a lab has no patients; a clinic has no designers) or the user is already a member.
    """
    return membership_add(user=user, organization=organization, role=role)


@transaction.atomic
def membership_add(*, user: User, organization: Organization, role: Role) -> Membership:
    """:func:`membership_create` as one step of a caller's own durable transaction.

    For services that give a membership as part of a larger change (accepting an invitation
    creates the account, the membership and the acceptance together or not at all); a
    durable service cannot run inside another. Same rules and errors.
    """
    if role not in ROLES_BY_KIND[organization.kind]:
        raise InvalidInput("This role does not exist in this kind of organization.")
    if Membership.objects.filter(user=user, organization=organization).exists():
        raise InvalidInput("This user is already a member of this organization.")
    return Membership.objects.create(user=user, organization=organization, role=role)


@transaction.atomic(durable=True)
def lab_connection_create(
    *, clinic: Organization, lab: Organization, status: ConnectionStatus = ConnectionStatus.PENDING
) -> LabConnection:
    """Connect a clinic to a lab. Raises InvalidInput unless it is a clinic and a lab."""
    if clinic.kind != OrganizationKind.CLINIC or lab.kind != OrganizationKind.LAB:
        raise InvalidInput("A connection joins one clinic to one lab.")
    return LabConnection.objects.create(clinic=clinic, lab=lab, status=status)
