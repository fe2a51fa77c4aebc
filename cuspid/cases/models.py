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
    ComparisonStatus,
    FileFormat,
    Layer,
    Material,
    Priority,
    RevisionOrigin,
    SuggestionStage,
    SuggestionStatus,
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
    # An AI suggestion is a revision like any other (files, manifest, review, approval), made
    # by the design engine on ``author``'s request.
    origin = models.CharField(
        _("made by"), max_length=12, choices=RevisionOrigin.choices, default=RevisionOrigin.DESIGNER
    )
    # The revision the designer started this one from (an AI suggestion, say), if any.
    based_on = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

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
    # Meshes: the viewer layer (the clinic's prepared and opposing jaws, the lab's proposal).
    layer = models.CharField(_("layer"), max_length=12, choices=Layer.choices, blank=True)
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


class Annotation(PatientSealed):
    """A numbered pin on one mesh of a revision: a point, the surface normal there, and a text."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="annotations")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    revision = models.ForeignKey(Revision, on_delete=models.PROTECT, related_name="annotations")
    # The mesh the pin sits on (a file of the revision, or one of the clinic's scans).
    attachment = models.ForeignKey(
        Attachment, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # 1, 2, 3 ... per revision: the number drawn on the marker and in the list.
    number = models.PositiveIntegerField()
    # Millimetres, in the meshes' shared coordinate system; the normal is a unit vector.
    point = models.JSONField()
    normal = models.JSONField()
    text = EncryptedTextField(_("text"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["revision", "number"]
        constraints = [
            models.UniqueConstraint(fields=["revision", "number"], name="cases_annotation_number"),
        ]

    def __str__(self) -> str:
        return f"annotation {self.id}"


class Comment(PatientSealed):
    """A comment on a revision; a reply names the thread's first comment as its parent."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="comments")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    revision = models.ForeignKey(Revision, on_delete=models.PROTECT, related_name="comments")
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="replies"
    )
    body = EncryptedTextField(_("comment"))
    # A member of the clinic or the lab, or (no author) the holder of a review link.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    review_link = models.ForeignKey(
        "ReviewLink", on_delete=models.PROTECT, null=True, blank=True, related_name="comments"
    )

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(author__isnull=False) | Q(review_link__isnull=False),
                name="cases_comment_has_author",
            ),
        ]

    def __str__(self) -> str:
        return f"comment {self.id}"


class Mention(BaseModel):
    """An @mention of a case participant in a comment: their in-app notification."""

    comment = models.ForeignKey(Comment, on_delete=models.CASCADE, related_name="mentions")
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="case_mentions"
    )
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["comment", "user"], name="cases_mention_once"),
        ]
        indexes = [models.Index(fields=["user", "read_at"], name="cases_mention_unread")]

    def __str__(self) -> str:
        return f"mention {self.id}"


class Approval(PatientSealed):
    """A clinician's signed approval of one exact revision, bound to its manifest hash.

    The server signs ``approvals.approval_message(...)`` over these fields with Ed25519; the
    signature and the public key's id are stored so the record can be checked offline.
    Immutable once stored.
    """

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="approvals")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    revision = models.OneToOneField(Revision, on_delete=models.PROTECT, related_name="approval")
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField()
    manifest_sha256 = models.CharField(max_length=64)
    statement_version = models.CharField(max_length=32)
    key_id = models.CharField(max_length=16)
    signature = models.CharField(max_length=128)

    class Meta:
        ordering = ["-approved_at"]

    def __str__(self) -> str:
        return f"approval {self.id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Integrity: the signature covers the stored fields, so the record never changes.
        if not self._state.adding:
            raise ValueError("An approval is immutable once stored.")
        super().save(*args, **kwargs)


class ReviewLink(PatientSealed):
    """A link that shows one revision to someone without an account, for a limited time.

    Only the SHA-256 of the token is stored; the passcode, if any, is stored as a password
    hash. Revoked or expired, the link answers 404 like a guessed one.
    """

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="review_links")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    revision = models.ForeignKey(Revision, on_delete=models.PROTECT, related_name="review_links")
    token_hash = models.CharField(max_length=64, unique=True)
    # Who the link is for, as the clinician wrote it ("Dr Roy, periodontist"): sealed.
    label = EncryptedTextField(_("for"), blank=True, null=True)
    allow_comments = models.BooleanField(_("may comment"), default=False)
    passcode_hash = models.CharField(max_length=256, blank=True)
    expires_at = models.DateTimeField(_("expires"))
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    open_count = models.PositiveIntegerField(default=0)
    last_opened_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"review link {self.id}"


class ProductionPackage(PatientSealed):
    """The deterministic ZIP the lab produces from an approved revision, stored encrypted."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="packages")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    revision = models.OneToOneField(Revision, on_delete=models.PROTECT, related_name="package")
    approval = models.OneToOneField(Approval, on_delete=models.PROTECT, related_name="package")
    blob = models.OneToOneField(EncryptedBlob, on_delete=models.PROTECT, related_name="+")
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"production package {self.id}"


class RevisionComparison(PatientSealed):
    """The per-vertex distance from one revision's proposal to another's, computed once.

    ``blob`` holds the distances (little-endian float32, one per vertex of ``revision``'s
    proposal mesh, in millimetres); ``stats`` the summary the legend shows.
    """

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="comparisons")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    revision = models.ForeignKey(Revision, on_delete=models.PROTECT, related_name="+")
    baseline = models.ForeignKey(Revision, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        max_length=8, choices=ComparisonStatus.choices, default=ComparisonStatus.PENDING
    )
    blob = models.OneToOneField(
        EncryptedBlob, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    stats = models.JSONField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["revision", "baseline"], name="cases_comparison_once"),
            models.CheckConstraint(
                condition=~Q(revision=models.F("baseline")), name="cases_comparison_two"
            ),
        ]

    def __str__(self) -> str:
        return f"revision comparison {self.id}"


class DesignSuggestion(PatientSealed):
    """One run of the design engine on a case's scans, asked for by a lab designer.

    A worker segments the prepared jaw's scan and proposes a crown for each of the case's
    teeth in that jaw; the result is a revision marked ``RevisionOrigin.AI`` (the crowns, the
    proposal layer). ``labels`` holds the segmentation for the viewer (one unsigned byte per
    vertex of ``scan`` in the browser loader's order: 0 gingiva, else the FDI number), owned
    by the patient; ``report`` the engine's figures (no PHI: numbers and codes). ``progress``
    and ``stage`` are what the page shows while it runs; ``attempts`` counts runs started
    (a failed run is tried once more, then the suggestion is failed with ``error``).
    """

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="suggestions")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    scan = models.ForeignKey(Attachment, on_delete=models.PROTECT, related_name="+")
    antagonist = models.ForeignKey(
        Attachment, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    teeth = models.JSONField(default=list)
    status = models.CharField(
        max_length=8, choices=SuggestionStatus.choices, default=SuggestionStatus.PENDING
    )
    stage = models.CharField(
        max_length=12, choices=SuggestionStage.choices, default=SuggestionStage.QUEUED
    )
    progress = models.PositiveSmallIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=32, blank=True)
    revision = models.OneToOneField(
        Revision, on_delete=models.PROTECT, null=True, blank=True, related_name="suggestion"
    )
    labels = models.OneToOneField(
        EncryptedBlob, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    report = models.JSONField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress__lte=100), name="cases_suggestion_progress_percent"
            ),
        ]

    def __str__(self) -> str:
        return f"design suggestion {self.id}"
