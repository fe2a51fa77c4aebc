"""API shapes for AI suggestions: the run's status and progress, and its report.

The segmentation itself is binary (``suggestion_labels``): one unsigned byte per vertex of
the prepared jaw's scan (``scan_id``) in the order three.js's loaders read it (a binary STL:
three per facet, in file order), 0 for gingiva, otherwise the tooth's FDI number.
"""

from __future__ import annotations

import datetime
from typing import Any
from uuid import UUID

from ninja import Field, Schema

from cuspid.cases.enums import SuggestionStage, SuggestionStatus


class SuggestionOut(Schema):
    """One run of the design engine on a case's scans."""

    id: UUID
    case_id: UUID
    scan_id: UUID = Field(..., description="The prepared jaw's scan the engine segmented.")
    antagonist_id: UUID | None = Field(None, description="The opposing jaw's scan, if any.")
    teeth: list[int] = Field(..., description="The case's teeth the engine was asked to design.")
    status: SuggestionStatus = Field(
        ..., description="pending (waiting for a worker), running, ready, or failed (see error)."
    )
    stage: SuggestionStage = Field(..., description="What a running suggestion is doing.")
    progress: int = Field(..., description="Percent done, 0-100.")
    attempts: int = Field(..., description="Runs started (a failed run is tried once more).")
    error: str = Field(
        "",
        description="Why the last run failed: unreadable_scan, segmentation_failed, "
        "no_tooth_in_jaw, no_crown, case_moved_on, requester_gone or internal_error.",
    )
    revision_id: UUID | None = Field(
        None, description="When ready: the revision marked AI suggestion holding the crowns."
    )
    report: dict[str, Any] | None = Field(
        None,
        description="When ready: the jaw, the teeth found, and per crown the engine's report "
        "(margin length, proximal contacts, occlusal contact crown to antagonist, occlusal "
        "clearance preparation to antagonist, wall thickness, volume, watertight, warnings; "
        "reports made before the occlusal contact existed lack it and measured the clearance "
        "from the crown).",
    )
    created_at: datetime.datetime
    updated_at: datetime.datetime
