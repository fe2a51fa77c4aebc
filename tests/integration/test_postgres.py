"""The database tiers: PostgreSQL in CI (and production), SQLite in WAL mode embedded.

The PostgreSQL tests use the ``postgres_db`` fixture: they skip on a local SQLite run and fail
under CUSPID_REQUIRE_ALL (CI), where the whole suite must be running on PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.utils import ConnectionHandler
from pytest_django import DjangoDbBlocker

from config.settings.base import database_settings
from cuspid.accounts.models import User
from cuspid.tenancy.enums import OrganizationKind, Role
from cuspid.tenancy.models import Membership, Organization
from cuspid.tenancy.services import membership_create, organization_create
from tests.factories import make_user


@pytest.mark.postgres
def test_the_suite_runs_on_postgresql(postgres_db: None) -> None:
    assert connection.vendor == "postgresql"
    assert connection.settings_dict["NAME"].startswith("test_"), "pytest-django's own database"
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_encoding')")
        (encoding,) = cursor.fetchone()
    assert encoding == "UTF8"


@pytest.mark.postgres
def test_email_is_unique_regardless_of_case_on_postgresql(postgres_db: None) -> None:
    make_user(email="dana.demo@clinic.example")
    # Straight to the table, past the manager's lower-casing: the constraint itself refuses it.
    with pytest.raises(IntegrityError), transaction.atomic():
        User(email="Dana.Demo@Clinic.EXAMPLE", full_name="Someone Else").save()

    assert User.objects.filter(email__iexact="DANA.DEMO@clinic.example").count() == 1


@pytest.mark.postgres
def test_organization_and_membership_round_trip_on_postgresql(postgres_db: None) -> None:
    user = make_user(email="round.trip@clinic.example", full_name="Ren Roundtrip")
    clinic = organization_create(
        kind=OrganizationKind.CLINIC,
        name="Harbour Dental",
        country="ca",
        region="ca-on",
        time_zone="America/Toronto",
    )
    membership_create(user=user, organization=clinic, role=Role.CLINICIAN)

    loaded = Membership.objects.select_related("user", "organization").get(
        user__email__iexact="ROUND.TRIP@clinic.example"
    )
    assert loaded.organization.id == clinic.id
    assert (loaded.organization.name, loaded.organization.country) == ("Harbour Dental", "CA")
    assert loaded.organization.is_clinic
    assert loaded.role == Role.CLINICIAN
    assert loaded.is_active
    assert loaded.user.full_name == "Ren Roundtrip"
    assert list(Organization.objects.filter(memberships__user=user)) == [clinic]

    # One membership per user and organisation, enforced by the database too.
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=user, organization=clinic, role=Role.STAFF)


def test_the_embedded_sqlite_database_runs_in_wal_mode(
    tmp_path: Path, django_db_blocker: DjangoDbBlocker
) -> None:
    # The same settings make run uses (config.settings.base), on a SQLite file of its own;
    # the test database itself is in memory (SQLite) or PostgreSQL, so it cannot show WAL.
    database = database_settings(f"sqlite:///{tmp_path / 'cuspid.sqlite3'}")
    handler = ConnectionHandler({"default": dict(database)})
    embedded = handler["default"]
    try:
        # pytest-django guards every connection; this one is not the suite's database.
        with django_db_blocker.unblock(), embedded.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            (journal_mode,) = cursor.fetchone()
            cursor.execute("PRAGMA busy_timeout")
            (busy_timeout,) = cursor.fetchone()
            cursor.execute("PRAGMA synchronous")
            (synchronous,) = cursor.fetchone()
    finally:
        embedded.close()

    assert journal_mode == "wal"
    assert busy_timeout >= 5000
    assert synchronous == 1, "NORMAL: safe with WAL, without a sync on every commit"
    assert database.get("CONN_MAX_AGE") == 0
