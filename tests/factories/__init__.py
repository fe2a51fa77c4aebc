"""factory-boy factories for the models tests need."""

from __future__ import annotations

from typing import Any, cast

import factory.django
from factory.declarations import Sequence, SubFactory
from factory.helpers import post_generation

from cuspid.accounts.models import User
from cuspid.tenancy.enums import ConnectionStatus, OrganizationKind, Role
from cuspid.tenancy.models import LabConnection, Membership, Organization

TEST_PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = Sequence(lambda n: f"user{n}@clinic.example")
    full_name = Sequence(lambda n: f"Test Person {n}")

    @post_generation
    def password(obj: User, create: bool, extracted: str | None, **kwargs: Any) -> None:
        obj.set_password(extracted or TEST_PASSWORD)
        if create:
            obj.save(update_fields=["password"])


class OrganizationFactory(factory.django.DjangoModelFactory[Organization]):
    class Meta:
        model = Organization

    kind = OrganizationKind.CLINIC
    name = Sequence(lambda n: f"Test Clinic {n}")
    country = "CA"
    region = "CA-ON"
    time_zone = "America/Toronto"


class LabFactory(OrganizationFactory):
    kind = OrganizationKind.LAB
    name = Sequence(lambda n: f"Test Lab {n}")


class MembershipFactory(factory.django.DjangoModelFactory[Membership]):
    class Meta:
        model = Membership

    user = SubFactory(UserFactory)
    organization = SubFactory(OrganizationFactory)
    role = Role.CLINICIAN


class LabConnectionFactory(factory.django.DjangoModelFactory[LabConnection]):
    class Meta:
        model = LabConnection

    clinic = SubFactory(OrganizationFactory)
    lab = SubFactory(LabFactory)
    status = ConnectionStatus.ACTIVE


# Typed entry points: factory-boy has no type information, so tests call these.
def make_user(**fields: Any) -> User:
    return cast(User, UserFactory(**fields))


def make_organization(**fields: Any) -> Organization:
    return cast(Organization, OrganizationFactory(**fields))


def make_lab(**fields: Any) -> Organization:
    return cast(Organization, LabFactory(**fields))


def make_membership(**fields: Any) -> Membership:
    return cast(Membership, MembershipFactory(**fields))


def make_lab_connection(**fields: Any) -> LabConnection:
    return cast(LabConnection, LabConnectionFactory(**fields))
