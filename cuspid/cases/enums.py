"""Choices for cases: what is made, from what, how urgently, and the states of the workflow."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from cuspid.cases.workflow import Action, State


class CaseType(models.TextChoices):
    CROWN = "crown", _("Crown")
    BRIDGE = "bridge", _("Bridge")
    INLAY_ONLAY = "inlay_onlay", _("Inlay / onlay")
    VENEER = "veneer", _("Veneer")
    IMPLANT_CROWN = "implant_crown", _("Implant crown")
    NIGHT_GUARD = "night_guard", _("Night guard")
    OTHER = "other", _("Other")


class Material(models.TextChoices):
    ZIRCONIA = "zirconia", _("Zirconia")
    LITHIUM_DISILICATE = "lithium_disilicate", _("Lithium disilicate")
    PFM = "pfm", _("Porcelain fused to metal")
    GOLD = "gold", _("Gold alloy")
    PMMA = "pmma", _("PMMA (temporary)")
    COMPOSITE = "composite", _("Composite")
    ACRYLIC = "acrylic", _("Acrylic")
    OTHER = "other", _("Other")


class Priority(models.TextChoices):
    ROUTINE = "routine", _("Routine")
    RUSH = "rush", _("Rush")


class CaseStatus(models.TextChoices):
    """The workflow's states (``workflow.State``) with their labels."""

    DRAFT = State.DRAFT.value, _("Draft")
    SUBMITTED = State.SUBMITTED.value, _("Sent to lab")
    ACCEPTED = State.ACCEPTED.value, _("Accepted by lab")
    IN_DESIGN = State.IN_DESIGN.value, _("In design")
    AWAITING_REVIEW = State.AWAITING_REVIEW.value, _("Awaiting review")
    CHANGES_REQUESTED = State.CHANGES_REQUESTED.value, _("Changes requested")
    APPROVED = State.APPROVED.value, _("Approved")
    IN_PRODUCTION = State.IN_PRODUCTION.value, _("In production")
    SHIPPED = State.SHIPPED.value, _("Shipped")
    DELIVERED = State.DELIVERED.value, _("Delivered")
    CLOSED = State.CLOSED.value, _("Closed")
    DECLINED = State.DECLINED.value, _("Declined by lab")
    CANCELLED = State.CANCELLED.value, _("Cancelled")


class CaseAction(models.TextChoices):
    """The workflow's actions (``workflow.Action``) as buttons and timeline entries."""

    SUBMIT = Action.SUBMIT.value, _("Send to lab")
    ACCEPT = Action.ACCEPT.value, _("Accept")
    DECLINE = Action.DECLINE.value, _("Decline")
    START_DESIGN = Action.START_DESIGN.value, _("Start design")
    SEND_FOR_REVIEW = Action.SEND_FOR_REVIEW.value, _("Send for review")
    REQUEST_CHANGES = Action.REQUEST_CHANGES.value, _("Request changes")
    APPROVE = Action.APPROVE.value, _("Approve")
    START_PRODUCTION = Action.START_PRODUCTION.value, _("Start production")
    SHIP = Action.SHIP.value, _("Mark shipped")
    CONFIRM_DELIVERY = Action.CONFIRM_DELIVERY.value, _("Confirm delivery")
    CLOSE = Action.CLOSE.value, _("Close case")
    CANCEL = Action.CANCEL.value, _("Cancel case")
    REVOKE_SHARE = Action.REVOKE_SHARE.value, _("Withdraw from lab")


class TimelineEntry(models.TextChoices):
    """What a timeline row records: a workflow action, or one of these."""

    CREATED = "created", _("Case opened")
    UPDATED = "updated", _("Details changed")
    ATTACHMENT_ADDED = "attachment_added", _("File added")
    REVISION_CREATED = "revision_created", _("Design revision uploaded")
    PACKAGE_CREATED = "package_created", _("Production package created")


class AttachmentKind(models.TextChoices):
    SCAN = "scan", _("Intraoral scan")
    PHOTO = "photo", _("Photo")
    DOCUMENT = "document", _("Document")


class FileFormat(models.TextChoices):
    STL_BINARY = "stl_binary", _("STL (binary)")
    STL_ASCII = "stl_ascii", _("STL (text)")
    PLY = "ply", _("PLY")
    OBJ = "obj", _("OBJ")
    JPEG = "jpeg", _("JPEG")
    PNG = "png", _("PNG")
    PDF = "pdf", _("PDF")


class Layer(models.TextChoices):
    """Where a mesh goes in the viewer: the clinic's scans, or the lab's design."""

    PREPARED = "prepared", _("Prepared jaw")
    ANTAGONIST = "antagonist", _("Opposing jaw")
    PROPOSAL = "proposal", _("Design proposal")


class ComparisonStatus(models.TextChoices):
    PENDING = "pending", _("Computing")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")


class RevisionOrigin(models.TextChoices):
    """Who made a revision's design: a lab designer, or the design engine."""

    DESIGNER = "designer", _("Designer")
    AI = "ai", _("AI suggestion")


class SuggestionStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for a worker")
    RUNNING = "running", _("Running")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")


class SuggestionStage(models.TextChoices):
    """Where a running AI suggestion is; the progress bar's words."""

    QUEUED = "queued", _("Waiting for a worker")
    READING = "reading", _("Reading the scans")
    SEGMENTING = "segmenting", _("Finding and numbering the teeth")
    PROPOSING = "proposing", _("Designing the crown")
    SAVING = "saving", _("Saving the suggestion")
    DONE = "done", _("Done")
