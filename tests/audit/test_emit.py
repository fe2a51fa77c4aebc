"""The emitter: what an event records (ids and codes, never PHI), transactions, sign-in."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from uuid import UUID

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import transaction
from django.test import Client, RequestFactory
from pytest_django.fixtures import Settings

from cuspid.accounts.models import User
from cuspid.audit import signing
from cuspid.audit.actions import AuditAction
from cuspid.audit.chain import event_hash
from cuspid.audit.enums import Outcome
from cuspid.audit.identity import AuditIdentity
from cuspid.audit.models import GENESIS_HASH, AuditCheckpoint, AuditEvent, ChainHead
from cuspid.audit.selectors import actor_names_for, patient_access_log
from cuspid.audit.services import USER_AGENT_MAX, audit_checkpoint_sign, audit_emit
from cuspid.audit.tasks import checkpoint as checkpoint_task
from cuspid.core.actors import SystemActor
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.audit.conftest import Emit
from tests.factories import TEST_PASSWORD, make_user

SYSTEM = SystemActor(reason="test")
PATIENT = "pt_7f3a9c"


def _request(**meta: str) -> object:
    request = RequestFactory().get("/x", **meta)  # type: ignore[arg-type]  # META strings
    request.request_id = "abc123"  # type: ignore[attr-defined]  # as RequestLogMiddleware sets
    return request


def test_an_event_records_ids_codes_and_the_request(
    member_of: Callable[[Organization, Role], Membership], clinic: Organization
) -> None:
    membership = member_of(clinic, Role.CLINICIAN)
    request = _request(REMOTE_ADDR="2001:db8:0:0::1", HTTP_USER_AGENT="A" * 1000)
    event = audit_emit(
        action=AuditAction.Record.Read,
        actor=Actor.of(membership),
        target_type="scan",
        target_id=UUID(int=5),
        subject_patient=PATIENT,
        data_type="intraoral_scan",
        purpose="treatment",
        request=request,  # type: ignore[arg-type]  # a RequestFactory request
    )
    event.refresh_from_db()
    assert event.sequence == 1
    assert event.prev_hash == GENESIS_HASH
    assert event.actor_user_id == membership.user.pk
    assert event.actor_role == "clinician"
    assert event.actor_organization_id == clinic.pk
    assert event.system_reason == ""
    assert (event.subject_patient, event.data_type, event.purpose) == (
        PATIENT,
        "intraoral_scan",
        "treatment",
    )
    assert (event.target_type, event.target_id) == ("scan", str(UUID(int=5)))
    assert event.outcome == Outcome.ALLOWED
    assert event.ip == "2001:db8::1"
    assert event.user_agent == "A" * USER_AGENT_MAX
    assert event.request_id == "abc123"
    assert event.occurred_at.utcoffset() is not None
    assert event.hash == event_hash(event.__dict__)
    # No name or email of the actor anywhere in the row.
    values = [str(getattr(event, f.name)) for f in AuditEvent._meta.get_fields()]
    assert not any(membership.user.email in v or membership.user.full_name in v for v in values)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject_patient", "Jane Doe"),
        ("subject_patient", "jane@example.com"),
        ("target_id", "x" * 65),
        ("data_type", "caries on 36"),
        ("purpose", "DOB 1980-01-01 / Toronto"),
    ],
)
def test_values_that_are_not_ids_or_codes_are_refused(db: None, field: str, value: str) -> None:
    with pytest.raises(ValueError, match="id or a code"):
        audit_emit(action=AuditAction.Record.Read, actor=SYSTEM, **{field: value})  # type: ignore[arg-type]  # parametrised keyword
    assert not AuditEvent.objects.exists()


def test_an_unknown_action_is_refused(db: None) -> None:
    from enum import StrEnum

    class Made(StrEnum):
        Up = "made:up"

    with pytest.raises(ValueError, match="unknown audit action"):
        audit_emit(action=Made.Up, actor=SYSTEM)


def test_actor_kinds_system_anonymous_and_audit_identity(db: None) -> None:
    system = audit_emit(action=AuditAction.Audit.CheckpointSigned, actor=SYSTEM)
    anonymous = audit_emit(
        action=AuditAction.Auth.SignInFailed,
        actor=None,
        outcome=Outcome.DENIED,
        request=_request(REMOTE_ADDR="not-an-ip"),  # type: ignore[arg-type]  # test request
    )
    operator = audit_emit(
        action=AuditAction.BreakGlass.Started,
        actor=AuditIdentity(user_id=UUID(int=9), role="platform_operator"),
    )
    assert (system.actor_role, system.system_reason, system.actor_user_id) == (
        "system",
        "test",
        None,
    )
    assert (anonymous.actor_user_id, anonymous.actor_role, anonymous.outcome) == (
        None,
        "",
        "denied",
    )
    assert anonymous.ip == ""
    assert (operator.actor_user_id, operator.actor_role) == (UUID(int=9), "platform_operator")
    assert [system.sequence, anonymous.sequence, operator.sequence] == [1, 2, 3]
    assert anonymous.prev_hash == system.hash
    assert operator.prev_hash == anonymous.hash


def test_an_event_rolls_back_with_the_callers_change(db: None) -> None:
    audit_emit(action=AuditAction.Record.Read, actor=SYSTEM)

    def change_that_fails() -> None:
        with transaction.atomic():
            audit_emit(action=AuditAction.Record.Read, actor=SYSTEM)
            raise RuntimeError("the caller's change failed")

    with pytest.raises(RuntimeError):
        change_that_fails()
    assert list(AuditEvent.objects.values_list("sequence", flat=True)) == [1]
    assert ChainHead.objects.get().sequence == 1
    assert audit_emit(action=AuditAction.Record.Read, actor=SYSTEM).sequence == 2


def test_a_missing_head_is_rebuilt_from_the_last_event(emit_events: Emit) -> None:
    events = emit_events(3)
    ChainHead.objects.all().delete()
    event = audit_emit(action=AuditAction.Record.Read, actor=SYSTEM)
    assert event.sequence == 4
    assert event.prev_hash == events[-1].hash


def test_patient_access_log_lists_who_touched_the_patient_newest_first(db: None) -> None:
    audit_emit(action=AuditAction.Record.Read, actor=SYSTEM, subject_patient=PATIENT)
    audit_emit(action=AuditAction.Record.Read, actor=SYSTEM, subject_patient="pt_other")
    audit_emit(
        action=AuditAction.BreakGlass.Accessed,
        actor=AuditIdentity(user_id=UUID(int=3), role="platform_operator"),
        subject_patient=PATIENT,
    )
    log = list(patient_access_log(patient_id=PATIENT))
    assert [e.action for e in log] == ["breakglass:access", "record:read"]
    assert log[0].actor_role == "platform_operator"


def test_actor_names_for_no_users_makes_no_query(
    db: None, django_assert_num_queries: Callable[..., object]
) -> None:
    with django_assert_num_queries(0):  # type: ignore[attr-defined]  # a context manager
        assert actor_names_for([]) == {}


# --- sign-in, sign-out, failed sign-in -------------------------------------------------------


def test_sign_in_and_sign_out_are_audited_with_the_organisation(
    member_of: Callable[[Organization, Role], Membership], clinic: Organization
) -> None:
    membership = member_of(clinic, Role.ORG_ADMIN)
    client = Client(REMOTE_ADDR="192.0.2.7")
    response = client.post(
        "/accounts/login/", {"login": membership.user.email, "password": TEST_PASSWORD}
    )
    assert response.status_code == 302
    signed_in = AuditEvent.objects.get(action=AuditAction.Auth.SignedIn)
    assert signed_in.actor_user_id == membership.user.pk
    assert signed_in.actor_organization_id == clinic.pk
    assert signed_in.actor_role == "org_admin"
    assert signed_in.ip == "192.0.2.7"
    assert signed_in.request_id
    client.post("/accounts/logout/")
    signed_out = AuditEvent.objects.get(action=AuditAction.Auth.SignedOut)
    assert signed_out.actor_user_id == membership.user.pk
    assert signed_out.actor_organization_id == clinic.pk


def test_a_user_without_organisation_is_audited_by_id(user: User) -> None:
    client = Client()
    client.post("/accounts/login/", {"login": user.email, "password": TEST_PASSWORD})
    client.post("/accounts/logout/")
    events = list(AuditEvent.objects.order_by("sequence"))
    assert [(e.action, e.actor_user_id, e.actor_organization_id) for e in events] == [
        ("auth:sign_in", user.pk, None),
        ("auth:new_device", user.pk, None),
        ("auth:sign_out", user.pk, None),
    ]


def test_a_failed_sign_in_is_audited_without_user_or_email(db: None) -> None:
    victim = make_user(email="ivan@x.example")
    Client().post("/accounts/login/", {"login": victim.email, "password": "wrong-password-x"})
    Client().post("/accounts/login/", {"login": "nobody@x.example", "password": "whatever-123"})
    failures = list(AuditEvent.objects.filter(action=AuditAction.Auth.SignInFailed))
    assert len(failures) == 2
    for event in failures:
        assert event.outcome == Outcome.DENIED
        assert event.actor_user_id is None
        assert "ivan" not in event.target_id
        assert "nobody" not in event.target_id
    assert not AuditEvent.objects.filter(action=AuditAction.Auth.SignedIn).exists()


def test_signing_out_when_signed_out_audits_nothing(db: None) -> None:
    Client().post("/accounts/logout/")
    assert not AuditEvent.objects.exists()


# --- checkpoints, the key, the task and the commands -----------------------------------------


def test_checkpoints_sign_the_head_and_skip_when_nothing_is_new(
    emit_events: Emit, signing_key_path: Path
) -> None:
    assert audit_checkpoint_sign(actor=SYSTEM) is None  # empty chain
    events = emit_events(3)
    first = audit_checkpoint_sign(actor=SYSTEM)
    assert first is not None
    assert (first.sequence, first.head_hash) == (3, events[-1].hash)
    own = AuditEvent.objects.get(sequence=4)
    assert (own.action, own.target_id) == ("audit:checkpoint_sign", "3")
    assert audit_checkpoint_sign(actor=SYSTEM) is None  # only its own event since
    emit_events(1)
    second = audit_checkpoint_sign(actor=SYSTEM)
    assert second is not None
    assert second.sequence == 5
    key = signing.load_signing_key()
    assert first.public_key_id == signing.public_key_id(key.public_key())
    assert signing.checkpoint_signature_valid(
        key.public_key(), first.signature, first.sequence, first.head_hash, first.signed_at
    )
    assert stat.S_IMODE(os.stat(signing_key_path).st_mode) == 0o600


def test_the_key_is_required_in_production(
    emit_events: Emit, settings: Settings, signing_key_path: Path
) -> None:
    settings.CUSPID_AUDIT_SIGNING_KEY_CREATE = False
    emit_events(1)
    with pytest.raises(ImproperlyConfigured, match="no audit signing key"):
        audit_checkpoint_sign(actor=SYSTEM)
    assert not signing_key_path.exists()
    assert not AuditCheckpoint.objects.exists()


def test_a_key_that_is_not_ed25519_is_refused(signing_key_path: Path) -> None:
    signing_key_path.parent.mkdir(parents=True)
    signing_key_path.write_bytes(
        generate_private_key(SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ImproperlyConfigured, match="not an Ed25519 key"):
        signing.load_signing_key()


def test_creating_a_key_never_overwrites_one(signing_key_path: Path) -> None:
    first = signing.load_signing_key()
    signing._create_key(signing_key_path)  # a second process racing to create it
    assert signing.public_key_id(signing.load_signing_key().public_key()) == (
        signing.public_key_id(first.public_key())
    )


def test_a_garbled_signature_does_not_verify() -> None:
    from datetime import UTC, datetime

    key = signing.load_signing_key()
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert not signing.checkpoint_signature_valid(key.public_key(), "%%%", 1, "a" * 64, now)


def test_the_checkpoint_task_and_command(
    emit_events: Emit, capsys: pytest.CaptureFixture[str]
) -> None:
    assert checkpoint_task.run() is None
    call_command("audit_checkpoint")
    assert "nothing new to checkpoint" in capsys.readouterr().out
    emit_events(2)
    assert checkpoint_task.run() == 2
    emit_events(1)
    call_command("audit_checkpoint")
    assert "signed checkpoint at sequence 4" in capsys.readouterr().out


def test_the_public_key_command_prints_pem(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("audit_public_key")
    pem = capsys.readouterr().out
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert pem == signing.public_key_pem(signing.load_signing_key())


def test_checkpointing_an_empty_chain_still_creates_the_key(
    db: None, signing_key_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `make run` relies on this to leave a signing key in var/keys/ on the first start.
    assert not signing_key_path.exists()
    call_command("audit_checkpoint")
    assert "nothing new to checkpoint" in capsys.readouterr().out
    assert signing_key_path.exists()
    assert signing_key_path.stat().st_mode & 0o777 == 0o600
