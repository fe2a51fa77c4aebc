"""The canonical encoding, the action catalogue and actor identities."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest
from django.utils import translation

from cuspid.audit.actions import (
    ACTION_LABELS,
    AuditAction,
    action_label,
    all_action_values,
    all_actions,
)
from cuspid.audit.chain import HASHED_FIELDS, canonical_encoding, event_hash
from cuspid.audit.identity import ANONYMOUS, SYSTEM_ROLE, AuditIdentity, identity_of
from cuspid.audit.models import AuditEvent
from cuspid.core.actors import SystemActor
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Organization
from tests.factories import make_membership

USER = UUID("11111111-1111-4111-8111-111111111111")


def _fields(**changes: object) -> dict[str, object]:
    fields: dict[str, object] = dict.fromkeys(HASHED_FIELDS, "")
    fields.update(
        sequence=1,
        occurred_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        actor_user_id=USER,
        actor_organization_id=None,
        prev_hash="0" * 64,
    )
    fields.update(changes)
    return fields


def test_every_event_field_but_the_hash_is_hashed() -> None:
    stored = {f.name for f in AuditEvent._meta.get_fields()}
    assert set(HASHED_FIELDS) == stored - {"hash"}


def test_canonical_encoding_is_sorted_compact_utf8_json_with_utc_microseconds() -> None:
    toronto = timezone(timedelta(hours=-5))
    encoded = canonical_encoding(
        _fields(occurred_at=datetime(2026, 1, 1, 22, 4, 5, tzinfo=toronto), target_id="é")
    )
    document = json.loads(encoded)
    assert list(document) == sorted(document)
    assert document["occurred_at"] == "2026-01-02T03:04:05.000000+00:00"
    assert document["actor_user_id"] == str(USER)
    assert document["actor_organization_id"] is None
    assert "é".encode() in encoded
    assert b", " not in encoded
    assert b": " not in encoded


def test_the_hash_changes_with_any_field_and_is_stable_otherwise() -> None:
    base = event_hash(_fields())
    assert base == event_hash(_fields())
    assert len(base) == 64
    for name in HASHED_FIELDS:
        if name in {"sequence"}:
            changed = _fields(sequence=2)
        elif name == "occurred_at":
            changed = _fields(occurred_at=datetime(2026, 1, 2, 3, 4, 5, 1, tzinfo=UTC))
        elif name.endswith("_id") and name.startswith("actor"):
            changed = _fields(**{name: UUID(int=7)})
        else:
            changed = _fields(**{name: "x"})
        assert event_hash(changed) != base, name


def test_the_catalogue_lists_every_action_once_with_a_label() -> None:
    values = [str(a) for a in all_actions()]
    assert len(values) == len(set(values)) == len(all_action_values())
    assert set(ACTION_LABELS) == set(values)
    assert AuditAction.Auth.SignedIn.value == "auth:sign_in"
    assert AuditAction.Org.Switched.value == "org:switch"
    assert AuditAction.Record.Read.value == "record:read"
    assert AuditAction.BreakGlass.Started.value == "breakglass:start"
    assert AuditAction.Audit.Exported.value == "audit:export"
    assert all(":" in value for value in values)


def test_action_label_falls_back_to_the_stored_value() -> None:
    with translation.override("en"):
        assert str(action_label(AuditAction.Auth.SignedIn)) == "Signed in"
    assert action_label("retired:action") == "retired:action"


def test_a_system_actor_needs_a_reason() -> None:
    with pytest.raises(ValueError, match="reason"):
        SystemActor(reason=" ")


def test_identities_of_each_kind_of_actor(clinic: Organization) -> None:
    membership = make_membership(organization=clinic, role=Role.STAFF)
    actor = Actor.of(membership)
    assert identity_of(actor) == AuditIdentity(
        user_id=membership.user.pk, role="staff", organization_id=clinic.pk
    )
    assert identity_of(SystemActor(reason="nightly")) == AuditIdentity(
        role=SYSTEM_ROLE, system_reason="nightly"
    )
    assert identity_of(None) == ANONYMOUS == AuditIdentity()

    class Operator:
        def audit_identity(self) -> AuditIdentity:
            return AuditIdentity(user_id=USER, role="platform_operator")

    assert identity_of(Operator()).role == "platform_operator"
    identity = AuditIdentity(user_id=USER)
    assert identity.audit_identity() is identity


def test_rows_describe_themselves(db: None) -> None:
    from cuspid.audit.actions import AuditAction as Action
    from cuspid.audit.models import AuditCheckpoint, ChainHead
    from cuspid.audit.services import audit_emit

    event = audit_emit(action=Action.Record.Read, actor=SystemActor(reason="t"))
    assert str(event) == "#1 record:read allowed"
    assert str(ChainHead.objects.get()) == "head #1"
    assert str(AuditCheckpoint(sequence=4)) == "checkpoint #4"


def test_the_chain_head_follows_every_insert(db: None) -> None:
    # On PostgreSQL a trigger advances the head row; elsewhere audit_emit saves it.
    from cuspid.audit.actions import AuditAction
    from cuspid.audit.models import ChainHead
    from cuspid.audit.services import audit_emit

    events = [
        audit_emit(action=AuditAction.Record.Read, actor=SystemActor(reason="test"))
        for _ in range(3)
    ]
    head = ChainHead.objects.get()
    assert (head.sequence, head.hash) == (events[-1].sequence, events[-1].hash)
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
