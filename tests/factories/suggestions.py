"""AI suggestions for tests: cases with a synthetic prepared jaw, and suggestions made ready.

Scans are uploaded through the real services (inspection, encryption, audit). ``prepared_case``
gives the design engine a realistic input (``cuspid.design.synth_prep``: an arch with one tooth
prepared for a crown, and the opposing arch). ``ready_suggestion`` asks for a suggestion and
stores an outcome through the service's own storing step without running the engine, for
tests about who may see what (the engine's own runs are tested in ``tests/cases``).
"""

from __future__ import annotations

import io
from functools import cache
from uuid import UUID

from django.test import TestCase

from cuspid.cases.enums import Layer
from cuspid.cases.models import Case, DesignSuggestion
from cuspid.cases.services import Upload, attachment_add
from cuspid.cases.services.suggestions import (
    SYSTEM_REASON,
    _attempt_start,
    _finish,
    suggestion_request,
)
from cuspid.cases.suggest import Crown, SuggestionOutcome
from cuspid.core.actors import SystemActor
from cuspid.design.mesh import stl_bytes
from cuspid.design.synth_prep import synth_preparation
from cuspid.tenancy.models import Membership, Organization
from tests.factories.cases import actor_of, make_case, send_case, transition
from tests.factories.compare import sphere_stl

SYSTEM = SystemActor(reason=SYSTEM_REASON)
#: A small scan keeps the engine's run to seconds.
TEST_VERTICES = 12_000


@cache
def prepared_scans(seed: int = 3, tooth: int = 36) -> tuple[bytes, bytes]:
    """The binary STLs of a synthetic prepared jaw (``tooth`` prepared) and its opposing jaw."""
    prep = synth_preparation(seed, tooth, target_vertices=TEST_VERTICES)
    return stl_bytes(prep.scan), stl_bytes(prep.antagonist)


def prepared_case(
    clinician: Membership,
    designer: Membership,
    lab: Organization,
    *,
    seed: int = 3,
    tooth: int = 36,
    prepared: bytes | None = None,
) -> Case:
    """A crown case on ``tooth`` with a synthetic prepared jaw and opposing jaw (or the
    ``prepared`` bytes given instead of the prepared jaw), sent to ``lab`` and accepted."""
    scan, opposing = prepared_scans(seed, tooth)
    case = make_case(clinician, scans=0, teeth=[tooth])
    actor = actor_of(clinician)
    for data, layer, name in (
        (prepared if prepared is not None else scan, Layer.PREPARED, "prepared.stl"),
        (opposing, Layer.ANTAGONIST, "opposing.stl"),
    ):
        upload = Upload(file=io.BytesIO(data), filename=name, layer=layer.value)
        attachment_add(actor=actor, case=case, upload=upload)
    case = transition(designer, send_case(clinician, case, lab), "accept")
    return case


def request_quietly(designer: Membership, case: Case) -> DesignSuggestion:
    """Ask for a suggestion without reaching for a broker: the commit hook that would queue
    the task is captured and dropped."""
    with TestCase.captureOnCommitCallbacks(execute=False):
        return suggestion_request(actor=actor_of(designer), case=case)


def ready_suggestion(designer: Membership, case: Case, tooth: int = 36) -> DesignSuggestion:
    """A suggestion of ``case`` made ready through the service's storing step, with a sphere
    for its crown and every vertex of the scan labelled ``tooth``."""
    row = request_quietly(designer, case)
    started = _attempt_start(row.id)
    assert started is not None
    labels = bytes([tooth]) * (3 * (started.scan.face_count or 0))
    outcome = SuggestionOutcome(
        jaw="lower",
        teeth_found=(tooth,),
        labels=labels,
        crowns=(Crown(tooth=tooth, stl=sphere_stl(2, 4.0), report=_report()),),
    )
    return _finish(SYSTEM, UUID(str(row.id)), outcome)


def _report() -> dict[str, object]:
    return {
        "material": "zirconia",
        "margin_length_mm": 31.4,
        "contacts_mm": [0.05, 0.3],
        "occlusal_clearance_mm": 1.6,
        "occlusal_contact_mm": 0.05,
        "min_wall_thickness_mm": 0.9,
        "volume_mm3": 180.0,
        "watertight": True,
        "warnings": [
            {
                "code": "contact_open",
                "value": 0.3,
                "limit": 0.1,
                "message": "open contact",
                "neighbour": 1,
            }
        ],
        "resolution_mm": 0.05,
    }
