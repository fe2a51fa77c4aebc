"""Cases, their files, design revisions and timeline.

Every row about a case is sealed with the patient's data key (``keys_owner_field`` names the
patient), so crypto-shredding a patient makes their cases, notes, files and revisions
unreadable at once. Workflow rules live in ``workflow.py`` and ``services.py``, not here.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cuspid.cases.enums import (
    AttachmentKind,
    CaseStatus,
    CaseType,
    FileFormat,
    Material,
    Priority,
)
from cuspid.core.models import BaseModel
from cuspid.keys.fields import EncryptedTextField, KeyOwned
from cuspid.keys.models import EncryptedBlob, OwnerKind
from cuspid.patients.models import Patient
from cuspid.tenancy.models import Organization


class PatientSealed(KeyOwned, BaseModel):
    """Base of the case tables: rows sealed with the patient's data key."""

    keys_owner_kind: ClassVar[OwnerKind] = OwnerKind.PATIENT
    keys_owner_field: ClassVar[str] = "patient_id"

    class Meta:
        abstract = True


class Case(PatientSealed):
    """One piece of lab work for one patient, owned by a clinic, shared with at most one lab."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="cases")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="cases")
    # Per clinic, from 1: what people say on the phone ("case 42").
    number = models.PositiveIntegerField(_("case number"))
    case_type = models.CharField(_("case type"), max_length=16, choices=CaseType.choices)
    # FDI two-digit tooth numbers (11-48 permanent, 51-85 primary), sorted, no repeats.
    teeth = models.JSONField(_("teeth"), default=list)
    shade = models.CharField(_("shade"), max_length=32, blank=True)
    material = models.CharField(_("material"), max_length=24, choices=Material.choices)
    due_date = models.DateField(_("due date"), null=True, blank=True)
    priority = models.CharField(
        _("priority"), max_length=8, choices=Priority.choices, default=Priority.ROUTINE
    )
    notes = EncryptedTextField(_("clinical notes"), blank=True, null=True)
    status = models.CharField(
        _("status"), max_length=20, choices=CaseStatus.choices, default=CaseStatus.DRAFT
    )
    status_changed_at = models.DateTimeField(_("status changed"), auto_now_add=True)
    shared_with_lab = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="shared_cases",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "number"], name="cases_number_per_clinic"
            ),
            models.CheckConstraint(
                condition=Q(status__in=CaseStatus.values), name="cases_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(case_type__in=CaseType.values), name="cases_type_valid"
            ),
            models.CheckConstraint(
                condition=~Q(shared_with_lab=models.F("organization")),
                name="cases_shared_with_another_org",
            ),
        ]
        indexes = [
            models.Index(fields=["shared_with_lab", "status"], name="cases_lab_inbox"),
            models.Index(fields=["organization", "status"], name="cases_clinic_status"),
        ]

    def __str__(self) -> str:
        return f"case {self.id}"

    @property
    def reference(self) -> str:
        """The case number as people read it."""
        return f"C-{self.number:05d}"


class Revision(PatientSealed):
    """Design revision n of a case: its files, author, note and manifest hash. Immutable."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="revisions")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    number = models.PositiveIntegerField(_("revision"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    note = EncryptedTextField(_("note"), blank=True, null=True)
    manifest_sha256 = models.CharField(_("manifest SHA-256"), max_length=64)

    class Meta:
        ordering = ["case", "number"]
        constraints = [
            models.UniqueConstraint(fields=["case", "number"], name="cases_revision_number"),
        ]

    def __str__(self) -> str:
        return f"revision {self.id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Integrity, not workflow: an approval is bound to a revision's manifest, so a stored
        # revision never changes.
        if not self._state.adding:
            raise ValueError("A revision is immutable once stored.")
        super().save(*args, **kwargs)


class Attachment(PatientSealed):
    """A file of a case: the clinic's scans, photos and documents, or a revision's files."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="attachments")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    revision = models.ForeignKey(
        Revision, on_delete=models.PROTECT, null=True, blank=True, related_name="files"
    )
    kind = models.CharField(_("kind"), max_length=12, choices=AttachmentKind.choices)
    file_format = models.CharField(_("format"), max_length=12, choices=FileFormat.choices)
    content_type = models.CharField(max_length=64)
    # The name the uploader's computer gave it: sealed, it may name the patient.
    filename = EncryptedTextField(_("file name"))
    size = models.BigIntegerField(_("size"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    blob = models.OneToOneField(EncryptedBlob, on_delete=models.PROTECT, related_name="+")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    # Meshes: what the parser found; units are millimetres (scanners export millimetres).
    vertex_count = models.PositiveIntegerField(null=True, blank=True)
    face_count = models.PositiveIntegerField(null=True, blank=True)
    bounds = models.JSONField(null=True, blank=True)
    units = models.CharField(max_length=8, blank=True)
    # Photos: pixels; documents: pages.
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    page_count = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=AttachmentKind.values), name="cases_attachment_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"attachment {self.id}"

    @property
    def extents(self) -> tuple[float, float, float] | None:
        """Width, depth and height of a mesh in its units."""
        if not self.bounds:
            return None
        low, high = self.bounds["min"], self.bounds["max"]
        return (high[0] - low[0], high[1] - low[1], high[2] - low[2])


class CaseEvent(PatientSealed):
    """One line of a case's timeline: a transition, or a file or revision added."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="events")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    # A workflow.Action value, or an enums.TimelineEntry value.
    entry = models.CharField(max_length=24)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    revision = models.ForeignKey(
        Revision, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # A decline reason or a change request: written for the other side, sealed.
    note = EncryptedTextField(_("note"), blank=True, null=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"case event {self.id}"
