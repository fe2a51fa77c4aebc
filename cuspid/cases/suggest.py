"""The design engine run behind an AI suggestion: scan bytes in, segmentation and crowns out.

No Django, no database, no files: the service (``cuspid.cases.services.suggestions``) reads the
case's scans, calls :func:`suggestion_compute`, and stores what it returns. Everything the
engine does is ``cuspid.design``'s; this module only chooses what to ask it and translates
the answer into what the platform stores:

- **Jaw.** The case's teeth name the prepared jaw when they are all in one jaw (a crown on 36
  is a lower-jaw case); otherwise the engine detects it. Only the case's teeth in that jaw
  get a crown, at most ``MAX_CROWNS``.
- **Segmentation for the viewer**: one unsigned byte per vertex *in the browser loader's
  order* (``cuspid.cases.distance``: an STL's corners, a PLY's vertices), 0 for gingiva, else
  the FDI number. The engine labels the vertices it reads (an STL's corners merged); each
  loader vertex takes the label of the engine's vertex at the same point.
- **Crowns**: one binary STL per tooth, with the engine's report; a tooth the engine cannot
  propose is skipped with a code, and a run with no crown at all fails.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from scipy.spatial import cKDTree  # type: ignore[import-untyped]  # scipy ships no type information

from cuspid.cases.distance import MeshUnreadable, mesh_load
from cuspid.design.crown_report import DEFAULT_CLEARANCE_MM
from cuspid.design.labels import FDI_BY_JAW, Jaw
from cuspid.design.mesh import Mesh, UnreadableMesh, read_mesh, stl_bytes
from cuspid.design.propose import ProposalFailed, propose_crown
from cuspid.design.segment import SegmentationFailed, segment

#: Crowns proposed in one suggestion at most (a bridge's abutments, a quadrant of crowns).
MAX_CROWNS: Final = 4

#: Codes of a failed suggestion (``DesignSuggestion.error``), and of a skipped tooth.
ERROR_UNREADABLE: Final = "unreadable_scan"
ERROR_SEGMENTATION: Final = "segmentation_failed"
ERROR_NO_TOOTH: Final = "no_tooth_in_jaw"
ERROR_NO_CROWN: Final = "no_crown"
SKIP_PROPOSAL: Final = "proposal_failed"

#: Progress is reported as (stage, percent) through the caller's callback.
Progress = Callable[[str, int], None]


class SuggestionFailed(Exception):
    """The engine cannot make a suggestion from these scans; ``code`` says why (no PHI)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True, slots=True)
class Crown:
    """One proposed crown: its tooth, the binary STL, and the engine's report (plain JSON)."""

    tooth: int
    stl: bytes
    report: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SuggestionOutcome:
    """What one run produced: the jaw, the teeth found, the viewer's labels, the crowns."""

    jaw: Jaw
    teeth_found: tuple[int, ...]
    labels: bytes
    crowns: tuple[Crown, ...]
    skipped: tuple[tuple[int, str], ...] = field(default=())

    def report(self) -> dict[str, Any]:
        """The JSON stored with the suggestion: numbers and codes only."""
        return {
            "jaw": self.jaw,
            "teeth_found": list(self.teeth_found),
            "crowns": [{"tooth": c.tooth, "report": c.report} for c in self.crowns],
            "skipped": [{"tooth": tooth, "reason": reason} for tooth, reason in self.skipped],
        }


def _jaw_of(teeth: Sequence[int]) -> Jaw | None:
    """The one jaw all the teeth are in, if they are."""
    jaws = {jaw for jaw, numbers in FDI_BY_JAW.items() for tooth in teeth if tooth in numbers}
    return jaws.pop() if len(jaws) == 1 else None


def _read(data: bytes) -> Mesh:
    try:
        return read_mesh(data)
    except UnreadableMesh:
        raise SuggestionFailed(ERROR_UNREADABLE) from None


def loader_labels(mesh: Mesh, labels: np.ndarray[Any, Any], data: bytes, file_format: str) -> bytes:
    """The engine's per-vertex labels, one byte per vertex of the browser loader's order.

    Each loader vertex takes the label of the engine's vertex nearest to it (the same point:
    both read the same file). Raises SuggestionFailed(unreadable_scan) when the loader cannot
    read the file.
    """
    try:
        loaded = mesh_load(data, file_format)
    except MeshUnreadable:
        raise SuggestionFailed(ERROR_UNREADABLE) from None
    _distance, nearest = cKDTree(mesh.vertices).query(loaded.vertices)
    per_vertex: bytes = np.asarray(labels, dtype=np.int64)[nearest].astype(np.uint8).tobytes()
    return per_vertex


def suggestion_compute(
    *,
    scan: bytes,
    scan_format: str,
    antagonist: bytes | None,
    teeth: Sequence[int],
    material: str,
    progress: Progress,
) -> SuggestionOutcome:
    """Segment the prepared jaw's scan and propose a crown for each asked tooth in that jaw.

    Guarantees: ``labels`` has one byte per loader vertex of ``scan``; every crown is the
    engine's watertight proposal in the scan's coordinates; ``progress`` is called with
    ``segmenting``, ``proposing`` (once per tooth) and nothing else. A material the engine has
    no clearance limit for is measured against its ``other`` limit. Raises SuggestionFailed
    with ``unreadable_scan``, ``segmentation_failed``, ``no_tooth_in_jaw`` (none of the case's
    teeth is in the scan's jaw) or ``no_crown`` (the engine could propose none of them).
    """
    mesh = _read(scan)
    opposing = _read(antagonist) if antagonist is not None else None
    progress("segmenting", 20)
    try:
        segmentation = segment(mesh, jaw=_jaw_of(teeth))
    except SegmentationFailed:
        raise SuggestionFailed(ERROR_SEGMENTATION) from None
    labels = loader_labels(mesh, segmentation.labels, scan, scan_format)
    found = tuple(sorted(int(t) for t in np.unique(segmentation.labels) if t))
    wanted = [t for t in teeth if t in FDI_BY_JAW[segmentation.jaw]][:MAX_CROWNS]
    if not wanted:
        raise SuggestionFailed(ERROR_NO_TOOTH)
    crowns: list[Crown] = []
    skipped: list[tuple[int, str]] = []
    for number, tooth in enumerate(wanted):
        progress("proposing", 40 + 45 * number // len(wanted))
        try:
            proposal = propose_crown(
                mesh,
                tooth,
                antagonist=opposing,
                segmentation=segmentation,
                material=material if material in DEFAULT_CLEARANCE_MM else "other",
            )
        except ProposalFailed:
            skipped.append((tooth, SKIP_PROPOSAL))
            continue
        crowns.append(
            Crown(tooth=tooth, stl=stl_bytes(proposal.crown), report=proposal.report.to_dict())
        )
    if not crowns:
        raise SuggestionFailed(ERROR_NO_CROWN)
    return SuggestionOutcome(
        jaw=segmentation.jaw,
        teeth_found=found,
        labels=labels,
        crowns=tuple(crowns),
        skipped=tuple(skipped),
    )
