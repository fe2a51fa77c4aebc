"""Eight writers at once on PostgreSQL still make one unbroken chain."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from cuspid.audit.actions import AuditAction
from cuspid.audit.models import GENESIS_HASH, AuditEvent
from cuspid.audit.services import audit_emit
from cuspid.audit.verify import audit_chain_verify
from cuspid.core.actors import SystemActor
from tests.conftest import require_service

THREADS = 8
EACH = 200


@pytest.fixture
def postgres_transactional(transactional_db: None) -> None:
    require_service(connection.vendor == "postgresql", "the database is not PostgreSQL")


@pytest.mark.postgres
def test_eight_concurrent_writers_make_one_unbroken_chain(postgres_transactional: None) -> None:
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            start.wait()
            actor = SystemActor(reason=f"writer_{worker}")
            for i in range(EACH):
                audit_emit(action=AuditAction.Record.Read, actor=actor, target_id=str(i))
        except BaseException as error:  # noqa: BLE001 -- reported by the main thread below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    sequences = list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, THREADS * EACH + 1))
    assert AuditEvent.objects.get(sequence=1).prev_hash == GENESIS_HASH
    result = audit_chain_verify()
    assert result.ok
    assert result.events == THREADS * EACH
    reasons = set(AuditEvent.objects.values_list("system_reason", flat=True))
    assert reasons == {f"writer_{n}" for n in range(THREADS)}
