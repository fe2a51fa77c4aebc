"""API shapes for cases, their timeline, files and design revisions.

A case answers differently by side. The owning clinic sees who the case is for
(``patient``); the lab it is shared with gets ``patient: null`` and nothing else about the
patient: no name, no date of birth, no contact detail, no health card. No file's original
name is ever answered (it is sealed, and may name the patient): downloads get a generic one.
"""

from __future__ import annotations

import datetime
from typing import Any
from uuid import UUID

from django.http import HttpRequest
from django.urls import reverse
from ninja import Field, Schema

from cuspid.access.enforce import acting_actor
from cuspid.access.policy import can
from cuspid.cases.enums import CaseAction, CaseStatus, CaseType, Material, Priority
from cuspid.cases.models import Attachment, Case
from cuspid.cases.policies import side_of
from cuspid.cases.services import ACTION_PERMS
from cuspid.cases.workflow import Side, State, allowed_actions
from cuspid.patients.models import Patient
from cuspid.patients.schemas import ErrorOut, PatientRefOut


def _request(context: Any) -> HttpRequest:
    request: HttpRequest = context["request"]
    return request


class TransitionErrorOut(ErrorOut):
    """A 409: the change does not fit the case's state; what the caller may do instead."""

    status: str = Field(..., description="The case's current status.")
    allowed_actions: list[str] = Field(
        ..., description="The actions the caller's side may take from this status."
    )


class CaseListQuery(Schema):
    """Narrow the list; both filters together narrow by both."""

    status: CaseStatus | None = Field(
        None, description="Only cases in this status (a lab's inbox is status=submitted)."
    )
    patient_id: UUID | None = Field(None, description="Only this patient's cases (clinic).")


class CaseCreateIn(Schema):
    """A new draft case for one patient of the caller's clinic."""

    patient_id: UUID = Field(..., description="The patient the work is for.")
    case_type: CaseType = Field(..., description="What the lab makes.")
    teeth: list[int] = Field(
        ...,
        max_length=32,
        description="FDI tooth numbers (11-48 permanent, 51-85 primary); may be empty for a "
        "night guard or other.",
    )
    material: Material = Field(..., description="The material to make it from.")
    shade: str = Field("", max_length=32, description="Shade, e.g. A2 or 2M2.")
    due_date: datetime.date | None = Field(None, description="When it is needed; not in the past.")
    priority: Priority = Field(Priority.ROUTINE, description="Routine or rush.")
    notes: str = Field(
        "", max_length=4000, description="Clinical notes for the lab (stored sealed)."
    )


class CaseUpdateIn(Schema):
    """Every detail of a case, replacing what was asked (until the lab has accepted it)."""

    case_type: CaseType = Field(..., description="What the lab makes.")
    teeth: list[int] = Field(
        ..., max_length=32, description="FDI tooth numbers (11-48 permanent, 51-85 primary)."
    )
    material: Material = Field(..., description="The material to make it from.")
    shade: str = Field("", max_length=32, description="Shade, e.g. A2 or 2M2.")
    due_date: datetime.date | None = Field(None, description="When it is needed.")
    priority: Priority = Field(Priority.ROUTINE, description="Routine or rush.")
    notes: str = Field(
        "", max_length=4000, description="Clinical notes for the lab (stored sealed)."
    )


class CaseSendIn(Schema):
    """Send a draft (or declined) case to one connected lab."""

    lab_id: UUID = Field(..., description="A lab the clinic is actively connected to.")


class CaseTransitionIn(Schema):
    """One workflow step other than sending (case_send) and uploading a revision."""

    action: CaseAction = Field(
        ..., description="The step; see the case's allowed_actions for what the caller may do."
    )
    reason: str = Field(
        "",
        max_length=4000,
        description="Why; required to decline and to request changes (the other side reads it).",
    )


class OrganizationRefOut(Schema):
    """A clinic or lab, by name."""

    id: UUID = Field(..., description="The organisation's id.")
    kind: str = Field(..., description="clinic or lab.")
    name: str = Field(..., description="Its name.")


class UserRefOut(Schema):
    """A person who acted on a case."""

    id: UUID = Field(..., description="The user's id.")
    full_name: str = Field(..., description="Their name as they gave it.")


class CaseOut(Schema):
    """A case as the caller's side sees it."""

    id: UUID = Field(..., description="The case's id.")
    reference: str = Field(..., description='The case number as people read it ("C-00042").')
    number: int = Field(..., description="Per-clinic case number, from 1.")
    status: str = Field(..., description="Where the case is in the workflow.")
    status_changed_at: datetime.datetime = Field(..., description="When the status last changed.")
    case_type: str = Field(..., description="What the lab makes.")
    teeth: list[int] = Field(..., description="FDI tooth numbers, sorted.")
    material: str = Field(..., description="The material.")
    shade: str = Field(..., description="Shade, or empty.")
    due_date: datetime.date | None = Field(..., description="When it is needed, or null.")
    priority: str = Field(..., description="routine or rush.")
    notes: str | None = Field(..., description="Clinical notes for the lab, or null.")
    clinic: OrganizationRefOut = Field(..., description="The clinic that owns the case.")
    lab: OrganizationRefOut | None = Field(..., description="The lab it is shared with, or null.")
    patient: PatientRefOut | None = Field(
        ..., description="Who it is for: the owning clinic only; always null for the lab."
    )
    side: str | None = Field(..., description="The caller's side of the case: clinic or lab.")
    allowed_actions: list[str] = Field(
        ..., description="The workflow actions the caller may take now (its side, its role)."
    )
    created_at: datetime.datetime = Field(..., description="When the case was opened.")
    updated_at: datetime.datetime = Field(..., description="When the case last changed.")

    @staticmethod
    def resolve_clinic(obj: Case) -> Any:
        return obj.organization

    @staticmethod
    def resolve_lab(obj: Case) -> Any:
        return obj.shared_with_lab

    @staticmethod
    def resolve_side(obj: Case, context: Any) -> str | None:
        side = side_of(acting_actor(_request(context)), obj)
        return side.value if side else None

    @staticmethod
    def resolve_patient(obj: Case, context: Any) -> Patient | None:
        # Only the owning clinic learns who the case is for; a lab (and anyone else) never.
        if side_of(acting_actor(_request(context)), obj) != Side.CLINIC:
            return None
        return obj.patient

    @staticmethod
    def resolve_allowed_actions(obj: Case, context: Any) -> list[str]:
        actor = acting_actor(_request(context))
        side = side_of(actor, obj)
        if side is None:
            return []
        return [
            action.value
            for action in allowed_actions(State(obj.status), side)
            if can(actor, ACTION_PERMS[action], obj)
        ]


class CaseEventOut(Schema):
    """One line of a case's timeline."""

    id: UUID = Field(..., description="The entry's id.")
    entry: str = Field(
        ...,
        description="A workflow action (submit, accept, ...) or created, updated, "
        "attachment_added, revision_created.",
    )
    from_status: str = Field(..., description="Status before a transition, or empty.")
    to_status: str = Field(..., description="Status after a transition, or empty.")
    actor: UserRefOut = Field(..., description="Who did it.")
    organization: OrganizationRefOut = Field(..., description="For which side.")
    revision_id: UUID | None = Field(..., description="The revision it concerns, or null.")
    note: str | None = Field(
        ..., description="A decline reason or change request, for the other side; or null."
    )
    created_at: datetime.datetime = Field(..., description="When.")


class AttachmentOut(Schema):
    """A stored file of a case: what it is, never its original name."""

    id: UUID = Field(..., description="The file's id.")
    kind: str = Field(..., description="scan, photo or document.")
    file_format: str = Field(..., description="stl_binary, stl_ascii, ply, obj, jpeg, png, pdf.")
    content_type: str = Field(..., description="The media type it is served as.")
    size: int = Field(..., description="Size in bytes.")
    sha256: str = Field(..., description="SHA-256 of the stored bytes (hex).")
    vertex_count: int | None = Field(..., description="Meshes: vertices.")
    face_count: int | None = Field(..., description="Meshes: triangles.")
    bounds: dict[str, list[float]] | None = Field(
        ..., description='Meshes: bounding box, {"min": [x, y, z], "max": [x, y, z]}.'
    )
    units: str = Field(..., description="Meshes: coordinate units (mm); empty otherwise.")
    width: int | None = Field(..., description="Photos: width in pixels.")
    height: int | None = Field(..., description="Photos: height in pixels.")
    page_count: int | None = Field(..., description="Documents: pages.")
    revision_id: UUID | None = Field(
        ..., description="The design revision it belongs to; null for the clinic's files."
    )
    created_at: datetime.datetime = Field(..., description="When it was uploaded.")
    download_url: str = Field(..., description="Where to download its content.")

    @staticmethod
    def resolve_download_url(obj: Attachment) -> str:
        return reverse("api:attachment_download", kwargs={"attachment_id": obj.id})


class RevisionOut(Schema):
    """A design revision: immutable, its files bound by the manifest hash."""

    id: UUID = Field(..., description="The revision's id.")
    case_id: UUID = Field(..., description="The case.")
    number: int = Field(..., description="Revision number within the case, from 1.")
    author: UserRefOut = Field(..., description="The designer who uploaded it.")
    organization: OrganizationRefOut = Field(..., description="The lab.")
    note: str | None = Field(..., description="The designer's note, or null.")
    manifest_sha256: str = Field(
        ..., description="SHA-256 over its files' hashes and sizes (cuspid.cases.manifest)."
    )
    files: list[AttachmentOut] = Field(..., description="Its files, in upload order.")
    created_at: datetime.datetime = Field(..., description="When it was uploaded.")
