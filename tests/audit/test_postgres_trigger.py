"""On PostgreSQL the audit event table refuses UPDATE, DELETE and TRUNCATE outright."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from cuspid.audit.models import AuditEvent
from tests.audit.conftest import Emit

TABLE = AuditEvent._meta.db_table


@pytest.fixture
def chain(postgres_db: None, emit_events: Emit) -> None:
    emit_events(3)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        f"UPDATE {TABLE} SET outcome = 'denied' WHERE sequence = 2",  # noqa: S608 -- constant
        f"DELETE FROM {TABLE} WHERE sequence = 2",  # noqa: S608 -- constant
        # The test settings' flush switch is turned off first: production has none.
        f"SET LOCAL cuspid.audit_truncate = ''; TRUNCATE {TABLE}",
    ],
)
def test_raw_changes_are_refused(chain: None, statement: str) -> None:
    with (
        pytest.raises(DatabaseError, match="audit events are append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert AuditEvent.objects.count() == 3


@pytest.mark.postgres
def test_orm_updates_and_deletes_are_refused(chain: None) -> None:
    with pytest.raises(DatabaseError, match="UPDATE refused"), transaction.atomic():
        AuditEvent.objects.filter(sequence=1).update(action="record:read")
    with pytest.raises(DatabaseError, match="DELETE refused"), transaction.atomic():
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.count() == 3
