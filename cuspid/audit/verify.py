"""Walk the audit chain and its checkpoints; name the first event that does not hold up."""

from __future__ import annotations

from dataclasses import dataclass

from cuspid.audit import signing
from cuspid.audit.chain import HASHED_FIELDS, event_hash
from cuspid.audit.models import GENESIS_HASH, HEAD_ID, AuditCheckpoint, AuditEvent, ChainHead

CHUNK = 2000


@dataclass(frozen=True)
class VerifyResult:
    """``first_bad_sequence`` is ``None`` when the whole chain and every checkpoint hold."""

    events: int
    checkpoints: int
    first_bad_sequence: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.first_bad_sequence is None


def _walk_events(claims: dict[int, str]) -> tuple[int, int, str, VerifyResult | None]:
    """Check each link; return (count, last sequence, last hash, failure or None).

    ``claims`` maps checkpoint sequences to their claimed hashes; the event at each such
    sequence must carry exactly that hash.
    """
    expected_sequence, previous_hash, count = 1, GENESIS_HASH, 0
    rows = AuditEvent.objects.order_by("sequence").values(*HASHED_FIELDS, "hash")
    for row in rows.iterator(chunk_size=CHUNK):
        sequence = row["sequence"]
        failure = ""
        if sequence > expected_sequence:
            failure = "missing: the event with this sequence number was removed"
            sequence = expected_sequence
        elif row["prev_hash"] != previous_hash:
            failure = f"prev_hash does not match the hash of event {expected_sequence - 1}"
        elif event_hash(row) != row["hash"]:
            failure = "hash does not match the event's contents (changed or reordered)"
        elif sequence in claims and claims[sequence] != row["hash"]:
            failure = "hash differs from the one the signed checkpoint recorded"
        if failure:
            return count, sequence, previous_hash, VerifyResult(count, 0, sequence, failure)
        count, expected_sequence, previous_hash = count + 1, sequence + 1, row["hash"]
    return count, expected_sequence - 1, previous_hash, None


def audit_chain_verify() -> VerifyResult:
    """Verify every event's link and hash, every checkpoint's signature and claim, the head.

    Reports the first bad sequence number: a changed, removed, inserted or reordered event; a
    checkpoint whose signature fails or whose sequence lies beyond the end of the chain (its
    tail was cut off); a chain head that disagrees with the last event.
    """
    checkpoints = list(AuditCheckpoint.objects.order_by("sequence"))
    # The key is read only when there is a signature to check.
    public_key = signing.load_signing_key().public_key() if checkpoints else None
    key_id = signing.public_key_id(public_key) if public_key is not None else ""
    for checkpoint in checkpoints:
        assert public_key is not None  # noqa: S101 -- narrows the type; loaded above
        valid = checkpoint.public_key_id == key_id and signing.checkpoint_signature_valid(
            public_key,
            checkpoint.signature,
            checkpoint.sequence,
            checkpoint.head_hash,
            checkpoint.signed_at,
        )
        if not valid:
            return VerifyResult(
                0, 0, checkpoint.sequence, "checkpoint signature does not verify with the key"
            )
    claims = {c.sequence: c.head_hash for c in checkpoints}
    count, last_sequence, last_hash, failure = _walk_events(claims)
    if failure is not None:
        return VerifyResult(count, len(checkpoints), failure.first_bad_sequence, failure.reason)
    beyond = [c.sequence for c in checkpoints if c.sequence > last_sequence]
    if beyond:
        return VerifyResult(
            count,
            len(checkpoints),
            last_sequence + 1,
            f"missing: a signed checkpoint covers events up to {beyond[0]} "
            f"but the chain ends at {last_sequence}",
        )
    head = ChainHead.objects.filter(pk=HEAD_ID).first()
    if head is not None and (head.sequence, head.hash) != (last_sequence, last_hash):
        # Cut off (head beyond the end), appended behind the head's back, or a replaced tail.
        bad = (
            last_sequence + 1
            if head.sequence > last_sequence
            else head.sequence + 1
            if head.sequence < last_sequence
            else last_sequence
        )
        return VerifyResult(
            count,
            len(checkpoints),
            bad,
            f"the chain head records event {head.sequence} but the chain ends at {last_sequence}",
        )
    return VerifyResult(count, len(checkpoints))
