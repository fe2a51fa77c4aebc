"""API shapes for organisations, memberships and connections."""

from __future__ import annotations

from uuid import UUID

from ninja import Schema


class OrganizationOut(Schema):
    id: UUID
    kind: str
    name: str
    country: str
    region: str
    time_zone: str


class UserOut(Schema):
    id: UUID
    email: str
    full_name: str
    language: str


class MembershipOut(Schema):
    id: UUID
    role: str
    is_active: bool
    organization: OrganizationOut


class MeOut(Schema):
    user: UserOut
    memberships: list[MembershipOut]
    active_organization: OrganizationOut | None
    active_role: str | None


class ActiveOrganizationSetIn(Schema):
    organization_id: UUID


class MemberOut(Schema):
    id: UUID
    role: str
    is_active: bool
    user: UserOut


class LabConnectionOut(Schema):
    id: UUID
    status: str
    clinic: OrganizationOut
    lab: OrganizationOut
