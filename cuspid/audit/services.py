"""Writes to the audit trail: ``audit_emit`` (the one emitter) and checkpoint signing."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any
from uuid import UUID

from django.db import connection, transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from cuspid.audit import signing
from cuspid.audit.actions import AuditAction, all_action_values
from cuspid.audit.chain import event_hash
from cuspid.audit.enums import Outcome
from cuspid.audit.identity import AuditActor, identity_of
from cuspid.audit.models import GENESIS_HASH, HEAD_ID, AuditCheckpoint, AuditEvent, ChainHead
from cuspid.audit.selectors import AuditFilters, audit_event_list_for
from cuspid.core import clock
from cuspid.core.actors import SystemActor
from cuspid.core.http import client_ip
from cuspid.tenancy.actor import Actor

USER_AGENT_MAX = 256
# Ids and codes only: letters, digits and ``_ . : -``. A name or a free-text value (which could
# carry PHI) does not match, because it has spaces or other characters.
_CODE = re.compile(r"[A-Za-z0-9_.:\-]{0,64}")


def code_or_blank(value: object) -> str:
    """``value`` as text when the audit trail may store it (an id or a code), else ``""``.

    For callers that record whatever a request names and must not trip :func:`audit_emit`'s
    refusal of free text.
    """
    text = str(value) if value is not None else ""
    return text if _CODE.fullmatch(text) else ""


def _code(name: str, value: object) -> str:
    text = str(value) if value is not None else ""
    if not _CODE.fullmatch(text):
        raise ValueError(f"audit {name} must be an id or a code (letters, digits, _.:-; ≤ 64)")
    return text


def _client_ip(request: HttpRequest | None) -> str:
    return client_ip(request) if request is not None else ""


_HEAD_FIELDS_SAVED: dict[str, list[str]] = {"postgresql": []}


def _lock_head() -> ChainHead:
    """The chain head, locked until the transaction ends (created on first use)."""
    head = ChainHead.objects.select_for_update().filter(pk=HEAD_ID).first()
    if head is None:
        last = AuditEvent.objects.order_by("-sequence").only("sequence", "hash").first()
        ChainHead.objects.get_or_create(
            pk=HEAD_ID,
            defaults={
                "sequence": last.sequence if last else 0,
                "hash": last.hash if last else GENESIS_HASH,
            },
        )
        head = ChainHead.objects.select_for_update().get(pk=HEAD_ID)
    return head


def audit_emit(
    *,
    action: StrEnum,
    actor: AuditActor,
    outcome: Outcome = Outcome.ALLOWED,
    target_type: str = "",
    target_id: str | UUID = "",
    subject_patient: str | UUID | None = None,
    data_type: str = "",
    purpose: str = "",
    request: HttpRequest | None = None,
) -> AuditEvent:
    """Append one event to the audit chain and return it.

    Runs inside the caller's transaction when there is one (so the event commits or rolls
    back with the change it records) and serialises writers on the chain head's row lock.
    Stores ids and codes only: ``target_id``, ``subject_patient`` (a pseudonymous patient id),
    ``data_type`` and ``purpose`` must be codes, and anything else raises ``ValueError``;
    from ``request`` it keeps the client IP, a truncated user agent and the request id.
    Raises ``ValueError`` for an action that is not in ``AuditAction``.
    """
    if str(action) not in all_action_values():
        raise ValueError(f"unknown audit action {action!r}")
    identity = identity_of(actor)
    fields: dict[str, Any] = {
        "actor_user_id": identity.user_id,
        "actor_role": _code("actor role", identity.role),
        "actor_organization_id": identity.organization_id,
        "system_reason": identity.system_reason[:100],
        "subject_patient": _code("subject patient", subject_patient),
        "data_type": _code("data type", data_type),
        "action": str(action),
        "target_type": _code("target type", target_type),
        "target_id": _code("target id", target_id),
        "purpose": _code("purpose", purpose),
        "outcome": Outcome(outcome).value,
        "ip": _client_ip(request),
        "user_agent": (
            request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX] if request is not None else ""
        ),
        "request_id": str(getattr(request, "request_id", ""))[:64],
    }
    with transaction.atomic():
        head = _lock_head()
        fields["sequence"] = head.sequence + 1
        fields["occurred_at"] = clock.now()
        fields["prev_hash"] = head.hash
        fields["hash"] = event_hash(fields)
        event = AuditEvent.objects.create(**fields)
        head.sequence, head.hash = event.sequence, event.hash
        # On PostgreSQL the insert's trigger has already advanced the head row (migration
        # 0003), so the save is skipped there (an empty update_fields saves nothing).
        head.save(update_fields=_HEAD_FIELDS_SAVED.get(connection.vendor, ["sequence", "hash"]))
    return event


@transaction.atomic(durable=True)
def audit_checkpoint_sign(*, actor: SystemActor) -> AuditCheckpoint | None:
    """Sign the chain head with the Ed25519 checkpoint key; ``None`` if nothing is new.

    Nothing is new when the chain is empty or holds only the previous checkpoint's own event;
    the key is loaded (or, on the embedded default, created) either way.
    Audits ``AuditAction.Audit.CheckpointSigned`` right after the signed head, in the same
    transaction. Raises ``ImproperlyConfigured`` when the key is missing and may not be made.
    """
    # The key first: the embedded default creates it here (so `make run` leaves one in
    # var/keys/ even on an empty chain), and production fails early when it is missing.
    key = signing.load_signing_key()
    head = _lock_head()
    last = AuditCheckpoint.objects.order_by("-sequence").first()
    if head.sequence == 0 or (last is not None and head.sequence <= last.sequence + 1):
        return None
    signed_at = clock.now()
    checkpoint = AuditCheckpoint.objects.create(
        sequence=head.sequence,
        head_hash=head.hash,
        signed_at=signed_at,
        signature=signing.sign_checkpoint(key, head.sequence, head.hash, signed_at),
        public_key_id=signing.public_key_id(key.public_key()),
    )
    audit_emit(
        action=AuditAction.Audit.CheckpointSigned,
        actor=actor,
        target_type="audit_checkpoint",
        target_id=str(checkpoint.sequence),
    )
    return checkpoint


@transaction.atomic(durable=True)
def audit_event_export(
    *, actor: Actor, filters: AuditFilters, request: HttpRequest | None = None
) -> QuerySet[AuditEvent]:
    """The filtered events of the actor's organisation, for a download; audited first.

    Org admins only (``PermissionDenied``). Audits ``AuditAction.Audit.Exported`` whether or
    not any row matches; the returned query is read after this transaction commits.
    """
    events = audit_event_list_for(actor=actor, filters=filters)
    audit_emit(
        action=AuditAction.Audit.Exported,
        actor=actor,
        target_type="audit_event",
        data_type="audit_log",
        request=request,
    )
    return events
