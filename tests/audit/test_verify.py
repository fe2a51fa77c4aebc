"""``audit_verify`` names the first bad sequence for every kind of tampering.

Database-agnostic: on PostgreSQL the tamper helper switches the append-only trigger off,
as a superuser could, so the chain itself must catch what was done.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from cuspid.audit.chain import HASHED_FIELDS, event_hash
from cuspid.audit.models import AuditCheckpoint, AuditEvent, ChainHead
from cuspid.audit.services import audit_checkpoint_sign
from cuspid.audit.verify import audit_chain_verify
from cuspid.core.actors import SystemActor
from tests.audit.conftest import Emit, tampering


def _assert_broken_at(sequence: int, reason: str) -> None:
    result = audit_chain_verify()
    assert (result.first_bad_sequence, result.ok) == (sequence, False), result
    assert reason in result.reason
    with pytest.raises(CommandError, match=rf"broken at sequence {sequence}:"):
        call_command("audit_verify")


def _row(sequence: int) -> dict[str, Any]:
    return dict(AuditEvent.objects.filter(sequence=sequence).values(*HASHED_FIELDS, "hash")[0])


def _checkpoint() -> AuditCheckpoint:
    signed = audit_checkpoint_sign(actor=SystemActor(reason="test"))
    assert signed is not None
    return signed


def test_an_intact_chain_verifies(emit_events: Emit, capsys: pytest.CaptureFixture[str]) -> None:
    emit_events(5)
    _checkpoint()  # event 6 is the checkpoint's own
    emit_events(2)
    _checkpoint()
    result = audit_chain_verify()
    assert result.ok
    assert (result.events, result.checkpoints) == (9, 2)
    call_command("audit_verify")
    assert capsys.readouterr().out.strip() == "verified 9 events, 2 checkpoints"


def test_an_empty_chain_verifies(db: None, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("audit_verify")
    assert capsys.readouterr().out.strip() == "verified 0 events, 0 checkpoints"


def test_a_changed_row(emit_events: Emit) -> None:
    emit_events(6)
    with tampering():
        AuditEvent.objects.filter(sequence=4).update(outcome="denied")
    _assert_broken_at(4, "hash does not match")


def test_a_deleted_row(emit_events: Emit) -> None:
    emit_events(6)
    with tampering():
        AuditEvent.objects.filter(sequence=3).delete()
    _assert_broken_at(3, "missing")


def test_a_row_inserted_in_the_middle(emit_events: Emit) -> None:
    emit_events(6)
    with tampering():
        for sequence in range(6, 3, -1):  # make room at 4, from the top down
            AuditEvent.objects.filter(sequence=sequence).update(sequence=sequence + 1)
        forged = _row(3) | {"sequence": 4, "target_id": "forged", "prev_hash": _row(3)["hash"]}
        forged["hash"] = event_hash(forged)
        AuditEvent.objects.create(**forged)
        ChainHead.objects.update(sequence=7)
    # The forged row is self-consistent; the original event 4, now at 5, no longer links.
    _assert_broken_at(5, "prev_hash does not match the hash of event 4")


def test_a_row_appended_behind_the_heads_back(emit_events: Emit) -> None:
    emit_events(4)
    with tampering():
        forged = _row(4) | {"sequence": 5, "prev_hash": _row(4)["hash"]}
        forged["hash"] = event_hash(forged)
        AuditEvent.objects.create(**forged)
    _assert_broken_at(5, "the chain head records event 4 but the chain ends at 5")


def test_reordered_rows(emit_events: Emit) -> None:
    emit_events(6)
    third, fourth = _row(3), _row(4)
    with tampering():
        AuditEvent.objects.filter(sequence=3).update(**(fourth | {"sequence": 3}))
        AuditEvent.objects.filter(sequence=4).update(**(third | {"sequence": 4}))
    _assert_broken_at(3, "prev_hash does not match the hash of event 2")


def test_a_truncated_tail_after_a_checkpoint(emit_events: Emit) -> None:
    emit_events(10)
    _checkpoint()  # signs sequence 10; event 11 is its own
    emit_events(3)
    with tampering():
        AuditEvent.objects.filter(sequence__gte=8).delete()
        ChainHead.objects.update(sequence=7, hash=_row(7)["hash"])  # covering tracks
    _assert_broken_at(8, "a signed checkpoint covers events up to 10 but the chain ends at 7")


def test_a_truncated_tail_without_a_checkpoint_is_caught_by_the_head(emit_events: Emit) -> None:
    emit_events(5)
    with tampering():
        AuditEvent.objects.filter(sequence__gte=4).delete()
    _assert_broken_at(4, "the chain head records event 5 but the chain ends at 3")


def test_a_rewritten_last_event_disagrees_with_the_head(emit_events: Emit) -> None:
    emit_events(3)
    with tampering():
        forged = _row(3) | {"target_id": "forged"}
        forged["hash"] = event_hash(forged)
        AuditEvent.objects.filter(sequence=3).update(**forged)
    _assert_broken_at(3, "the chain head records event 3")


def test_a_rehashed_chain_is_caught_by_the_checkpoint(emit_events: Emit) -> None:
    emit_events(6)
    _checkpoint()  # signs 6
    with tampering():
        previous = _row(2)["hash"]
        for sequence in range(3, 8):  # change 3, then recompute every later link
            row = _row(sequence) | {"prev_hash": previous}
            if sequence == 3:
                row["outcome"] = "denied"
            row["hash"] = event_hash(row)
            AuditEvent.objects.filter(sequence=sequence).update(**row)
            previous = row["hash"]
        ChainHead.objects.update(sequence=7, hash=previous)
    _assert_broken_at(6, "hash differs from the one the signed checkpoint recorded")


def test_a_forged_checkpoint_signature(emit_events: Emit) -> None:
    emit_events(4)
    checkpoint = _checkpoint()
    raw = bytearray(base64.b64decode(checkpoint.signature))
    raw[0] ^= 1
    AuditCheckpoint.objects.filter(pk=checkpoint.pk).update(
        signature=base64.b64encode(bytes(raw)).decode()
    )
    _assert_broken_at(4, "checkpoint signature does not verify")


def test_a_checkpoint_moved_to_another_hash_fails_its_signature(emit_events: Emit) -> None:
    emit_events(4)
    checkpoint = _checkpoint()
    AuditCheckpoint.objects.filter(pk=checkpoint.pk).update(head_hash=_row(3)["hash"])
    _assert_broken_at(4, "checkpoint signature does not verify")


def test_a_checkpoint_from_another_key(emit_events: Emit) -> None:
    emit_events(2)
    checkpoint = _checkpoint()
    AuditCheckpoint.objects.filter(pk=checkpoint.pk).update(public_key_id="0" * 16)
    _assert_broken_at(2, "checkpoint signature does not verify")
