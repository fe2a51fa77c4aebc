"""factory-boy factories for the models tests need."""

from __future__ import annotations

from typing import Any, cast

import factory.django
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from factory.declarations import Sequence, SubFactory
from factory.helpers import post_generation

from cuspid.accounts.models import User
from cuspid.tenancy.enums import ConnectionStatus, OrganizationKind, Role
from cuspid.tenancy.models import LabConnection, Membership, Organization

TEST_PASSWORD = "correct horse battery staple"
# The authenticator-app secret of every factory user with MFA (tests compute codes from it
# with ``tests.factories.totp_code``).
TEST_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


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


def enrol_totp(user: User, secret: str = TEST_TOTP_SECRET) -> Authenticator:
    """Give ``user`` an authenticator app with ``secret`` (no audit event, unlike the real
    enrolment), unless they have one already."""
    existing = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    if existing is not None:
        return existing
    return cast(Authenticator, TOTP.activate(user, secret).instance)


def totp_code(secret: str = TEST_TOTP_SECRET, *, offset: int = 0) -> str:
    """The 6-digit code an authenticator app with ``secret`` shows now (``offset`` steps of
    30 s later or earlier), computed the way allauth checks it."""
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value, time

    counter = int(time.time()) // 30 + offset
    return cast(str, format_hotp_value(hotp_value(secret, counter)))


# Typed entry points: factory-boy has no type information, so tests call these.
def make_user(*, mfa: bool = False, **fields: Any) -> User:
    """A user; ``mfa=True`` also gives them an authenticator app with ``TEST_TOTP_SECRET``."""
    user = cast(User, UserFactory(**fields))
    if mfa:
        enrol_totp(user)
    return user


def make_organization(**fields: Any) -> Organization:
    return cast(Organization, OrganizationFactory(**fields))


def make_lab(**fields: Any) -> Organization:
    return cast(Organization, LabFactory(**fields))


def make_membership(*, mfa: bool = False, **fields: Any) -> Membership:
    """A membership (and its user); ``mfa=True`` also gives the user an authenticator app
    with ``TEST_TOTP_SECRET``. (The ``signed_in`` fixture enrols users who need MFA, so tests
    that sign in through the login form still see the enrolment wall.)"""
    membership = cast(Membership, MembershipFactory(**fields))
    if mfa:
        enrol_totp(membership.user)
    return membership


def make_lab_connection(**fields: Any) -> LabConnection:
    return cast(LabConnection, LabConnectionFactory(**fields))


def audited_read_queries() -> int:
    """The queries one audited read costs after its request's own: the transaction (SQLite
    opens it with an explicit BEGIN, PostgreSQL does not), the chain head's lock, the insert
    and the head's update."""
    from django.db import connection

    return 4 + (connection.vendor == "sqlite")
