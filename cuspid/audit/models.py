"""The audit tables: append-only events in a hash chain, the chain head, signed checkpoints.

Only ``cuspid.audit`` imports this module (an import-linter contract); everything else goes
through ``audit_emit`` and the selectors.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from cuspid.audit.enums import Outcome

GENESIS_HASH = "0" * 64
HEAD_ID = 1


class AuditEvent(models.Model):
    """One audited event. Never updated or deleted (a PostgreSQL trigger refuses both).

    ``hash`` is SHA-256 over the canonical encoding of every other field (``chain.py``),
    including ``prev_hash``, the hash of the event before it.
    """

    sequence = models.PositiveBigIntegerField(primary_key=True)
    occurred_at = models.DateTimeField()
    actor_user_id = models.UUIDField(null=True, blank=True)
    actor_role = models.CharField(max_length=32, blank=True)
    actor_organization_id = models.UUIDField(null=True, blank=True)
    system_reason = models.CharField(max_length=100, blank=True)
    subject_patient = models.CharField(max_length=64, blank=True)
    data_type = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    purpose = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    # Normalised text (``ipaddress``), not ``inet``, so the hash reads the same on every database.
    ip = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=256, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["sequence"]
        indexes = [
            models.Index(fields=["actor_organization_id", "-sequence"], name="audit_event_org_seq"),
            models.Index(fields=["subject_patient", "-sequence"], name="audit_event_patient_seq"),
            models.Index(fields=["actor_user_id", "-sequence"], name="audit_event_user_seq"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome__in=Outcome.values), name="audit_event_outcome_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} {self.outcome}"


class ChainHead(models.Model):
    """The one row holding the last sequence and hash; writers lock it to extend the chain."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=HEAD_ID)
    sequence = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(id=HEAD_ID), name="audit_chain_head_single_row"),
        ]

    def __str__(self) -> str:
        return f"head #{self.sequence}"


class AuditCheckpoint(models.Model):
    """A signed statement: at ``signed_at`` the chain ended at ``sequence`` with ``head_hash``."""

    sequence = models.PositiveBigIntegerField(unique=True)
    head_hash = models.CharField(max_length=64)
    signed_at = models.DateTimeField()
    signature = models.CharField(max_length=128)
    public_key_id = models.CharField(max_length=32)

    class Meta:
        ordering = ["sequence"]

    def __str__(self) -> str:
        return f"checkpoint #{self.sequence}"
