"""Audit fixtures: a fresh signing key per test, a chain builder, and a tamper helper."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection
from django.db.backends.utils import CursorWrapper
from pytest_django.fixtures import Settings

from cuspid.audit.actions import AuditAction
from cuspid.audit.models import AuditEvent
from cuspid.audit.services import audit_emit
from cuspid.core.actors import SystemActor

Emit = Callable[[int], list[AuditEvent]]


@pytest.fixture(autouse=True)
def signing_key_path(settings: Settings, tmp_path: Path) -> Path:
    """Every test signs with its own key, created on first use in a temporary folder."""
    path = tmp_path / "keys" / "audit_signing_key.pem"
    settings.CUSPID_AUDIT_SIGNING_KEY = path
    settings.CUSPID_AUDIT_SIGNING_KEY_CREATE = True
    return path


@pytest.fixture
def emit_events(db: None) -> Emit:
    """Append ``n`` system events to the chain and return them."""

    def emit(n: int) -> list[AuditEvent]:
        actor = SystemActor(reason="test")
        return [
            audit_emit(action=AuditAction.Record.Read, actor=actor, target_id=str(i))
            for i in range(n)
        ]

    return emit


@contextmanager
def tampering() -> Iterator[CursorWrapper]:
    """A cursor that can rewrite history: on PostgreSQL, triggers are off while it is open.

    ``session_replication_role = replica`` is what a superuser (or a restore) can do; the
    hash chain and checkpoints must catch what the trigger then cannot refuse.
    """
    with connection.cursor() as cursor:
        postgres = connection.vendor == "postgresql"
        if postgres:
            cursor.execute("SET session_replication_role = replica")
        try:
            yield cursor
        finally:
            if postgres:
                cursor.execute("SET session_replication_role = DEFAULT")
