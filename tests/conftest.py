"""Shared fixtures. Tests that need PostgreSQL, Redis or Chromium skip without them, except
under ``CUSPID_REQUIRE_ALL=1`` (CI), where a missing service fails the test instead."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from types import MappingProxyType

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test import Client

from cuspid.access import routes
from cuspid.accounts.models import User
from cuspid.accounts.selectors.mfa import mfa_required_for
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import LabConnection, Membership, Organization
from tests.factories import (
    enrol_totp,
    make_lab,
    make_lab_connection,
    make_membership,
    make_organization,
    make_user,
)
from tests.factories.cases import Team

CHROMIUM = Path("/usr/bin/chromium")


def require_service(available: bool, reason: str) -> None:
    """Skip when a service is missing, or fail under CUSPID_REQUIRE_ALL (CI)."""
    if available:
        return
    if settings.CUSPID_REQUIRE_ALL:
        pytest.fail(f"CUSPID_REQUIRE_ALL is set but {reason}")
    pytest.skip(reason)


def redis_or_skip(url: str) -> redis.Redis:
    """A client for the Redis at ``url`` once it answers a ping (skip, or fail in CI, if not)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)
    try:
        available = bool(client.ping())
    except (redis.RedisError, OSError):
        available = False
    require_service(available, "Redis is not reachable at CUSPID_REDIS_URL")
    return client


@pytest.fixture(autouse=True)
def _empty_dek_cache() -> Iterator[None]:
    """Unwrapped data keys do not outlive the test (and the rows) that made them."""
    from cuspid.keys.crypto import dek_cache

    dek_cache.clear()
    yield
    dek_cache.clear()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """The URL of a moto server (S3 and KMS over real HTTP), running for the whole session.

    Point boto3 at it with ``aws_endpoint`` (below), or pass it as ``endpoint_url``.
    """
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_endpoint(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """boto3 clients made during the test talk to the moto server, with throwaway credentials."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return moto_endpoint


@pytest.fixture
def postgres_db(db: None) -> None:
    """The test database is PostgreSQL (CUSPID_DATABASE_URL)."""
    require_service(connection.vendor == "postgresql", "the database is not PostgreSQL")


@pytest.fixture
def chromium_path() -> Path:
    require_service(
        CHROMIUM.exists() and shutil.which(str(CHROMIUM)) is not None,
        "Chromium is not installed at /usr/bin/chromium",
    )
    return CHROMIUM


@pytest.fixture
def clinic(db: None) -> Organization:
    return make_organization(name="North Clinic")


@pytest.fixture
def team(
    clinic: Organization, lab: Organization, member_of: Callable[[Organization, Role], Membership]
) -> Team:
    """``clinic`` connected to ``lab``, with a clinician and a designer."""
    make_lab_connection(clinic=clinic, lab=lab)
    return Team(clinic, lab, member_of(clinic, Role.CLINICIAN), member_of(lab, Role.DESIGNER))


@pytest.fixture
def other_clinic(db: None) -> Organization:
    return make_organization(
        name="South Clinic", country="US", region="US-NY", time_zone="America/New_York"
    )


@pytest.fixture
def lab(db: None) -> Organization:
    return make_lab(name="Bright Lab")


@pytest.fixture
def connection_(clinic: Organization, lab: Organization) -> LabConnection:
    return make_lab_connection(clinic=clinic, lab=lab)


@pytest.fixture
def member_of(db: None) -> Callable[[Organization, Role], Membership]:
    """Make a new user with one membership: ``member_of(clinic, Role.CLINICIAN)``."""

    def make(organization: Organization, role: Role) -> Membership:
        return make_membership(organization=organization, role=role)

    return make


@pytest.fixture
def signed_in() -> Callable[[User], Client]:
    """A Django test client signed in as the given user, past every sign-in step.

    A user who must have MFA (staff and lab roles, operators) and has no second factor gets
    an authenticator app first (``TEST_TOTP_SECRET``), as a real sign-in would require; tests
    of the enrolment wall sign in with ``client.force_login`` themselves.
    """

    def make(user: User) -> Client:
        if mfa_required_for(user):
            enrol_totp(user)
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def user(db: None) -> User:
    return make_user()


@pytest.fixture
def declare_public_pages(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Declare test-only URL names as public pages, for test URL maps with throwaway views.

    ``RouteAccessMiddleware`` refuses any page missing from ``cuspid.access.routes.PAGES``.
    """

    def declare(*names: str) -> None:
        extra = dict.fromkeys(names, routes.PUBLIC)
        monkeypatch.setattr(routes, "PAGES", MappingProxyType({**routes.PAGES, **extra}))

    return declare


@pytest.fixture(autouse=True)
def _empty_cache(request: pytest.FixtureRequest) -> None:
    """Start every database test with an empty cache (the throttle counters live there).

    The cache is a database table that Django's flush between transactional tests does not
    empty, so counters from a live-server test would otherwise meet the next test.
    """
    from django.core.cache import cache

    names = set(request.fixturenames)
    for database in ("transactional_db", "live_server", "db"):
        if database in names:
            request.getfixturevalue(database)  # set up first: the cache table is in it
            cache.clear()
            return
