"""AI suggestions: asking, the worker's run through the real design engine, retry once and
failure, and the pages (case panel with progress, review page painted by tooth, starting the
next revision from a suggestion).

Everything goes through the real services on the test database. Celery does not run here:
the task's ``on_commit`` enqueue is captured (not run, which would reach for a broker) and the
task's function is called directly, as a worker would.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.db.models import Max
from django.test import Client
from django.urls import reverse
from django.utils import translation
from pytest_django.fixtures import Settings

from cuspid.accounts.models import User
from cuspid.audit.actions import AuditAction
from cuspid.audit.models import AuditEvent
from cuspid.cases.distance import mesh_load
from cuspid.cases.enums import Layer, RevisionOrigin, SuggestionStage, SuggestionStatus
from cuspid.cases.errors import InvalidTransition
from cuspid.cases.models import Attachment, Case, DesignSuggestion, Revision
from cuspid.cases.selectors.suggestions import suggestion_latest_for, suggestion_of_revision
from cuspid.cases.services import Upload, attachment_add, revision_create
from cuspid.cases.services.suggestions import (
    ERROR_CASE_MOVED,
    ERROR_INTERNAL,
    ERROR_REQUESTER_GONE,
    MAX_ATTEMPTS,
    STALE_AFTER,
    SuggestionRetry,
    _attempt_start,
    _failed,
    _finish,
    suggestion_request,
    suggestion_run,
)
from cuspid.cases.suggest import (
    ERROR_NO_CROWN,
    ERROR_NO_TOOTH,
    ERROR_SEGMENTATION,
    ERROR_UNREADABLE,
    SuggestionFailed,
    SuggestionOutcome,
    suggestion_compute,
)
from cuspid.cases.tasks import suggestion_run_task
from cuspid.cases.views.suggestions import _crown_figures
from cuspid.core import clock
from cuspid.core.errors import InvalidInput, PermissionDenied
from cuspid.design.crown_report import open_edge_count
from cuspid.design.labels import FDI_BY_JAW
from cuspid.design.mesh import read_mesh
from cuspid.keys.blobs import blob_chunks
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.factories.cases import Team, actor_of, make_case, send_case, transition
from tests.factories.compare import break_mesh, lose_stored_file, sphere_stl, use_blob_dir
from tests.factories.suggestions import (
    SYSTEM,
    prepared_case,
    prepared_scans,
    ready_suggestion,
    request_quietly,
)

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]
Capture = Callable[..., Any]


@pytest.fixture(autouse=True)
def _blob_store(settings: Settings, tmp_path: Path) -> None:
    use_blob_dir(settings, tmp_path)


@pytest.fixture
def case(team: Team) -> Case:
    return prepared_case(team.clinician, team.designer, team.lab)


def _mark() -> int:
    return int(AuditEvent.objects.aggregate(n=Max("sequence"))["n"] or 0)


def _actions_since(mark: int) -> list[str]:
    return list(
        AuditEvent.objects.filter(sequence__gt=mark, action__startswith="case:ai_")
        .order_by("sequence")
        .values_list("action", flat=True)
    )


def _run(suggestion: DesignSuggestion) -> str:
    """The task's function, as a worker runs it."""
    return suggestion_run_task(str(suggestion.id))


# --- asking ----------------------------------------------------------------------------------


def test_asking_queues_one_run_when_the_request_commits_and_asking_again_returns_it(
    team: Team, case: Case, django_capture_on_commit_callbacks: Capture
) -> None:
    mark = _mark()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = suggestion_request(actor=actor_of(team.designer), case=case)
    assert len(callbacks) == 1
    assert (first.status, first.stage, first.progress, first.attempts) == (
        SuggestionStatus.PENDING,
        SuggestionStage.QUEUED,
        0,
        0,
    )
    assert first.teeth == [36]
    assert first.scan.layer == Layer.PREPARED
    assert first.antagonist is not None
    assert first.antagonist.layer == Layer.ANTAGONIST
    assert _actions_since(mark) == [AuditAction.Case.AiSuggestionRequested]
    with django_capture_on_commit_callbacks(execute=False) as again:
        second = suggestion_request(actor=actor_of(team.designer), case=case)
    assert second.id == first.id
    assert again == []
    assert DesignSuggestion.objects.count() == 1
    assert _actions_since(mark) == [AuditAction.Case.AiSuggestionRequested]


def test_a_stale_run_is_replaced_by_a_new_one(team: Team, case: Case) -> None:
    first = request_quietly(team.designer, case)
    DesignSuggestion.objects.filter(id=first.id).update(
        updated_at=clock.now() - STALE_AFTER - STALE_AFTER
    )
    second = request_quietly(team.designer, case)
    assert second.id != first.id
    assert suggestion_latest_for(case=case) == second


def test_the_clinic_side_and_closed_cases_and_missing_scans_are_refused_and_nothing_is_written(
    team: Team, case: Case, member_of: MemberOf
) -> None:
    mark = _mark()
    with pytest.raises(PermissionDenied):
        suggestion_request(actor=actor_of(team.clinician), case=case)
    with pytest.raises(PermissionDenied):
        suggestion_request(actor=actor_of(member_of(team.lab, Role.PATIENT)), case=case)
    submitted = send_case(team.clinician, make_case(team.clinician), team.lab)
    with pytest.raises(InvalidTransition):
        suggestion_request(actor=actor_of(team.designer), case=submitted)
    # Only the opposing jaw was scanned.
    opposing_only = make_case(team.clinician, scans=0)
    attachment_add(
        actor=actor_of(team.clinician),
        case=opposing_only,
        upload=Upload(file=io.BytesIO(sphere_stl(2, 9.0)), filename="o.stl", layer="antagonist"),
    )
    no_scan = transition(
        team.designer, send_case(team.clinician, opposing_only, team.lab), "accept"
    )
    with pytest.raises(InvalidInput, match="prepared jaw"):
        suggestion_request(actor=actor_of(team.designer), case=no_scan)
    assert DesignSuggestion.objects.count() == 0
    assert _actions_since(mark) == []


# --- the worker's run ------------------------------------------------------------------------


def test_the_run_makes_a_revision_marked_ai_with_watertight_crowns_and_the_scan_labelled(
    team: Team, case: Case
) -> None:
    suggestion = request_quietly(team.designer, case)
    mark = _mark()
    assert _run(suggestion) == SuggestionStatus.READY
    suggestion.refresh_from_db()
    assert (suggestion.status, suggestion.stage, suggestion.progress) == (
        SuggestionStatus.READY,
        SuggestionStage.DONE,
        100,
    )
    assert (suggestion.attempts, suggestion.error) == (1, "")
    revision = suggestion.revision
    assert revision is not None
    assert (revision.origin, revision.author_id, revision.number) == (
        RevisionOrigin.AI,
        team.designer.user_id,
        1,
    )
    case.refresh_from_db()
    assert case.status == "in_design"
    [crown] = Attachment.objects.filter(revision=revision)
    assert crown.layer == Layer.PROPOSAL
    mesh = read_mesh(b"".join(blob_chunks(crown.blob)))
    assert open_edge_count(mesh) == 0
    # The labels: one byte per vertex of the scan as the browser loads it (an STL's corners),
    # gingiva and lower-jaw teeth only, the crowned tooth among them.
    scan = suggestion.scan
    loaded = mesh_load(b"".join(blob_chunks(scan.blob)), scan.file_format)
    assert suggestion.labels is not None
    labels = np.frombuffer(b"".join(blob_chunks(suggestion.labels)), dtype=np.uint8)
    assert len(labels) == len(loaded.vertices) == 3 * (scan.face_count or 0)
    assert set(np.unique(labels).tolist()) <= {0} | set(FDI_BY_JAW["lower"])
    assert (labels == 0).any()
    assert (labels == 36).any()
    report = suggestion.report or {}
    assert report["jaw"] == "lower"
    assert 36 in report["teeth_found"]
    assert len(report["teeth_found"]) >= 10
    [entry] = report["crowns"]
    assert entry["tooth"] == 36
    assert entry["report"]["watertight"] is True
    assert entry["report"]["volume_mm3"] > 0
    actions = list(
        AuditEvent.objects.filter(sequence__gt=mark)
        .order_by("sequence")
        .values_list("action", "system_reason")
    )
    assert (str(AuditAction.Case.RevisionCreated), "") in actions
    assert actions[-1] == (str(AuditAction.Case.AiSuggestionReady), "ai_suggestion")
    # A second delivery of the task changes nothing.
    assert _run(suggestion) == SuggestionStatus.READY
    assert Revision.objects.filter(case=case).count() == 1
    assert suggestion_of_revision(revision=revision) == suggestion


def test_a_scan_the_engine_cannot_segment_is_tried_once_more_then_fails_audited_once(
    team: Team,
) -> None:
    case = prepared_case(team.clinician, team.designer, team.lab, prepared=sphere_stl(3, 12.0))
    suggestion = request_quietly(team.designer, case)
    mark = _mark()
    with pytest.raises(SuggestionRetry):
        _run(suggestion)
    suggestion.refresh_from_db()
    assert (suggestion.status, suggestion.attempts, suggestion.error) == (
        SuggestionStatus.PENDING,
        1,
        ERROR_SEGMENTATION,
    )
    assert _actions_since(mark) == []
    assert _run(suggestion) == SuggestionStatus.FAILED
    suggestion.refresh_from_db()
    assert (suggestion.attempts, suggestion.error) == (MAX_ATTEMPTS, ERROR_SEGMENTATION)
    assert suggestion.revision is None
    assert suggestion.labels is None
    assert _actions_since(mark) == [AuditAction.Case.AiSuggestionFailed]
    # A third delivery does nothing; asking again starts a new suggestion.
    assert _run(suggestion) == SuggestionStatus.FAILED
    assert _actions_since(mark) == [AuditAction.Case.AiSuggestionFailed]
    assert request_quietly(team.designer, case).id != suggestion.id
    assert Revision.objects.filter(case=case).count() == 0


def test_a_lost_scan_file_is_an_internal_error_retried_then_failed(team: Team, case: Case) -> None:
    suggestion = request_quietly(team.designer, case)
    lose_stored_file(suggestion.scan)
    with pytest.raises(SuggestionRetry):
        _run(suggestion)
    assert _run(suggestion) == SuggestionStatus.FAILED
    suggestion.refresh_from_db()
    assert suggestion.error == ERROR_INTERNAL


def test_a_case_withdrawn_while_the_engine_ran_gets_no_revision(team: Team, case: Case) -> None:
    suggestion = request_quietly(team.designer, case)
    transition(team.clinician, case, "revoke_share")
    with pytest.raises(SuggestionRetry):
        suggestion_run(actor=SYSTEM, suggestion_id=suggestion.id)
    assert suggestion_run(actor=SYSTEM, suggestion_id=suggestion.id) is not None
    suggestion.refresh_from_db()
    assert (suggestion.status, suggestion.error) == (SuggestionStatus.FAILED, ERROR_CASE_MOVED)
    assert Revision.objects.filter(case=case).count() == 0


def test_a_suggestion_that_is_gone_is_missing_for_the_task(team: Team, case: Case) -> None:
    suggestion = request_quietly(team.designer, case)
    DesignSuggestion.objects.filter(id=suggestion.id).delete()
    assert _run(suggestion) == "missing"


# --- pages -----------------------------------------------------------------------------------


def test_the_case_page_offers_the_designer_the_request_and_shows_the_progress(
    team: Team, case: Case, signed_in: SignedIn
) -> None:
    designer = signed_in(team.designer.user)
    page = designer.get(reverse("cases:case_detail", args=[case.id])).content.decode()
    assert "Request AI suggestion" in page
    clinic_page = (
        signed_in(team.clinician.user)
        .get(reverse("cases:case_detail", args=[case.id]))
        .content.decode()
    )
    assert "Request AI suggestion" not in clinic_page
    assert 'id="ai-suggestion"' not in clinic_page
    response = designer.post(reverse("cases:suggestion_request", args=[case.id]))
    assert response.status_code == 302
    assert response["Location"].endswith("#ai-suggestion")
    suggestion = DesignSuggestion.objects.get(case=case)
    page = designer.get(reverse("cases:case_detail", args=[case.id])).content.decode()
    status_url = reverse("cases:suggestion_status", args=[suggestion.id])
    assert f'hx-get="{status_url}"' in page
    assert '<progress max="100" value="0"' in page
    assert "Waiting for a worker" in page
    polled = designer.get(status_url, HTTP_HX_REQUEST="true")
    assert polled.status_code == 200
    assert "HX-Refresh" not in polled
    # Running: the stage and the percent show.
    DesignSuggestion.objects.filter(id=suggestion.id).update(
        status=SuggestionStatus.RUNNING, stage=SuggestionStage.SEGMENTING, progress=20
    )
    running = designer.get(status_url).content.decode()
    assert "Finding and numbering the teeth" in running
    assert "20 % done" in running
    transition(team.clinician, case, "revoke_share")
    assert designer.get(status_url).status_code == 404  # the lab no longer sees the case


def test_a_ready_suggestion_reloads_the_page_and_its_review_page_paints_the_scan(
    team: Team, case: Case, signed_in: SignedIn
) -> None:
    suggestion = ready_suggestion(team.designer, case)
    assert suggestion.revision is not None
    designer = signed_in(team.designer.user)
    polled = designer.get(reverse("cases:suggestion_status", args=[suggestion.id]))
    assert polled["HX-Refresh"] == "true"
    page = designer.get(reverse("cases:case_detail", args=[case.id])).content.decode()
    assert "AI suggestion" in page
    assert "Open the AI suggestion (revision 1)" in page
    review = designer.get(reverse("cases:revision_review", args=[suggestion.revision.id]))
    html = review.content.decode()
    config = json.loads(
        re.search(
            r'<script id="viewer-config" type="application/json">(.*?)</script>', html, re.S
        ).group(1)  # type: ignore[union-attr]  # the page has the viewer
    )
    labels_url = reverse("cases:suggestion_labels", args=[suggestion.id])
    assert config["labelMap"] == {"meshId": str(suggestion.scan_id), "url": labels_url}
    assert str(suggestion.scan_id) in {mesh["id"] for mesh in config["meshes"]}
    assert "Crown on tooth 36" in html
    assert "Open contact with neighbour 2" in html
    assert "Occlusal contact" in html
    assert "Occlusal clearance (preparation)" in html
    assert "Start the next revision from this suggestion" in html
    streamed = designer.get(labels_url)
    assert streamed["Cache-Control"] == "no-store"
    body = streamed.getvalue()
    assert body == bytes([36]) * (3 * (suggestion.scan.face_count or 0))
    clinic = signed_in(team.clinician.user)
    assert clinic.get(labels_url).status_code == 200
    plain = clinic.get(reverse("cases:revision_review", args=[suggestion.revision.id]))
    assert "Start the next revision from this suggestion" not in plain.content.decode()


def test_the_labels_of_a_suggestion_not_ready_are_a_conflict(
    team: Team, case: Case, signed_in: SignedIn
) -> None:
    suggestion = request_quietly(team.designer, case)
    response = signed_in(team.designer.user).get(
        reverse("cases:suggestion_labels", args=[suggestion.id])
    )
    assert response.status_code == 409


def test_the_next_revision_records_the_suggestion_it_started_from(
    team: Team, case: Case, signed_in: SignedIn
) -> None:
    suggestion = ready_suggestion(team.designer, case)
    assert suggestion.revision is not None
    designer = signed_in(team.designer.user)
    url = reverse("cases:revision_new", args=[case.id])
    form = designer.get(url, {"based_on": str(suggestion.revision.id)}).content.decode()
    assert "Starting from revision 1" in form
    assert "ai-crown-36.stl" in form
    upload = io.BytesIO(sphere_stl(2, 4.2))
    upload.name = "refined.stl"
    response = designer.post(
        url, {"design_files": upload, "note": "", "based_on": str(suggestion.revision.id)}
    )
    assert response.status_code == 302
    latest = Revision.objects.filter(case=case).order_by("-number").first()
    assert latest is not None
    assert (latest.number, latest.origin, latest.based_on_id) == (
        2,
        RevisionOrigin.DESIGNER,
        suggestion.revision.id,
    )
    page = designer.get(reverse("cases:case_detail", args=[case.id])).content.decode()
    assert "Started from revision 1" in page


def test_a_revision_cannot_start_from_another_cases_revision(team: Team, case: Case) -> None:
    other = prepared_case(team.clinician, team.designer, team.lab, seed=4)
    suggestion = ready_suggestion(team.designer, other)
    with pytest.raises(InvalidInput):
        revision_create(
            actor=actor_of(team.designer),
            case=case,
            uploads=[Upload(file=io.BytesIO(sphere_stl(2, 4.0)), filename="c.stl")],
            based_on=suggestion.revision,
        )


# --- edges -----------------------------------------------------------------------------------


def test_a_case_without_teeth_gets_no_suggestion(team: Team, case: Case) -> None:
    Case.objects.filter(id=case.id).update(teeth=[])
    case.refresh_from_db()
    with pytest.raises(InvalidInput, match="no teeth"):
        suggestion_request(actor=actor_of(team.designer), case=case)


def test_a_designer_who_left_the_lab_while_it_ran_gets_no_revision(team: Team, case: Case) -> None:
    suggestion = request_quietly(team.designer, case)
    Membership.objects.filter(id=team.designer.id).update(is_active=False)
    with pytest.raises(SuggestionRetry):
        _run(suggestion)
    assert _run(suggestion) == SuggestionStatus.FAILED
    suggestion.refresh_from_db()
    assert suggestion.error == ERROR_REQUESTER_GONE
    assert Revision.objects.filter(case=case).count() == 0


def test_a_run_finished_elsewhere_first_stands(team: Team, case: Case) -> None:
    suggestion = request_quietly(team.designer, case)
    started = _attempt_start(suggestion.id)
    assert started is not None
    # Another delivery of the task finished it meanwhile; this run's results are dropped.
    DesignSuggestion.objects.filter(id=suggestion.id).update(status=SuggestionStatus.FAILED)
    outcome = SuggestionOutcome(jaw="lower", teeth_found=(36,), labels=b"", crowns=())
    assert _finish(SYSTEM, suggestion.id, outcome).status == SuggestionStatus.FAILED
    assert _failed(SYSTEM, suggestion.id, ERROR_INTERNAL).error == ""
    assert Revision.objects.filter(case=case).count() == 0


def test_primary_teeth_only_are_not_designed(team: Team, case: Case) -> None:
    Case.objects.filter(id=case.id).update(teeth=[75])
    case.refresh_from_db()
    suggestion = request_quietly(team.designer, case)
    with pytest.raises(SuggestionRetry):
        _run(suggestion)
    suggestion.refresh_from_db()
    assert suggestion.error == ERROR_NO_TOOTH


def test_a_damaged_scan_is_unreadable_for_the_engine(team: Team, case: Case) -> None:
    suggestion = request_quietly(team.designer, case)
    break_mesh(suggestion.scan)
    with pytest.raises(SuggestionRetry):
        _run(suggestion)
    suggestion.refresh_from_db()
    assert suggestion.error == ERROR_UNREADABLE


def test_the_engine_skips_a_tooth_it_cannot_propose_and_fails_with_none() -> None:
    scan, opposing = prepared_scans()
    with pytest.raises(SuggestionFailed) as failed:
        suggestion_compute(
            scan=scan,
            scan_format="stl_binary",
            antagonist=opposing,
            teeth=[38],
            material="acrylic",
            progress=lambda stage, percent: None,
        )
    assert failed.value.code == ERROR_NO_CROWN


def test_a_failed_suggestion_shows_why_and_offers_to_try_again(
    team: Team, case: Case, signed_in: SignedIn
) -> None:
    suggestion = request_quietly(team.designer, case)
    DesignSuggestion.objects.filter(id=suggestion.id).update(
        status=SuggestionStatus.FAILED, error=ERROR_SEGMENTATION, attempts=2
    )
    designer = signed_in(team.designer.user)
    page = designer.get(reverse("cases:case_detail", args=[case.id])).content.decode()
    assert "The AI suggestion failed after 2 attempts." in page
    assert "The teeth could not be found" in page
    assert "Try again" in page
    # The first attempt failed and the second is queued: the page says so.
    DesignSuggestion.objects.filter(id=suggestion.id).update(status=SuggestionStatus.PENDING)
    page = designer.get(reverse("cases:case_detail", args=[case.id])).content.decode()
    assert "The first attempt failed; trying once more." in page


def test_asking_on_a_case_that_is_not_open_for_design_says_why(
    team: Team, signed_in: SignedIn
) -> None:
    submitted = send_case(team.clinician, make_case(team.clinician), team.lab)
    designer = signed_in(team.designer.user)
    response = designer.post(reverse("cases:suggestion_request", args=[submitted.id]), follow=True)
    assert "Design revisions can be uploaded once the case is accepted" in response.content.decode()
    assert DesignSuggestion.objects.count() == 0


def test_a_designers_revision_has_no_ai_panel(team: Team, case: Case, signed_in: SignedIn) -> None:
    revision = revision_create(
        actor=actor_of(team.designer),
        case=case,
        uploads=[Upload(file=io.BytesIO(sphere_stl(2, 4.0)), filename="c.stl")],
    )
    html = (
        signed_in(team.designer.user)
        .get(reverse("cases:revision_review", args=[revision.id]))
        .content.decode()
    )
    assert 'id="ai-report"' not in html
    assert '"labelMap": null' in html


def _occlusal_report(**changes: object) -> dict[str, Any]:
    report: dict[str, Any] = {
        "material": "zirconia",
        "margin_length_mm": 30.0,
        "contacts_mm": [0.02],
        "occlusal_contact_mm": -0.15,
        "occlusal_clearance_mm": 0.7,
        "min_wall_thickness_mm": 0.9,
        "volume_mm3": 150.0,
        "watertight": True,
        "warnings": [
            {"code": "occlusion_heavy", "value": -0.15, "limit": 0.0, "message": "heavy"},
            {"code": "clearance_low", "value": 0.7, "limit": 1.0, "message": "low"},
        ],
        "resolution_mm": 0.1,
    }
    report.update(changes)
    return report


def test_the_report_lists_the_occlusal_contact_and_the_preparations_clearance() -> None:
    with translation.override("en"):
        figures = _crown_figures({"tooth": 36, "report": _occlusal_report()})
        rows = {what: (value, warn) for what, value, warn in figures.rows}
        assert rows["Occlusal contact"] == ("-0.15 mm", True)
        assert rows["Occlusal clearance (preparation)"] == ("0.70 mm", True)
        assert figures.warnings == [
            "The crown presses into the antagonist: -0.15 mm, at least 0.00 mm.",
            "The preparation leaves too little occlusal room: 0.70 mm to the antagonist, "
            "at least 1.00 mm for this material.",
        ]
        open_report = _occlusal_report(
            occlusal_contact_mm=0.5,
            warnings=[{"code": "occlusion_open", "value": 0.5, "limit": 0.2, "message": "x"}],
        )
        opened = _crown_figures({"tooth": 36, "report": open_report})
        assert opened.warnings == [
            "The crown is out of occlusion: 0.50 mm from the antagonist, at most 0.20 mm."
        ]
    with translation.override("fr"):
        french = _crown_figures({"tooth": 36, "report": _occlusal_report()})
        assert [what for what, _, _ in french.rows][2:4] == [
            "Contact occlusal",
            "Espace occlusal (préparation)",
        ]
        assert french.warnings[0].startswith("La couronne appuie dans l")


def test_a_report_stored_before_the_occlusal_contact_keeps_its_old_rows() -> None:
    # Its clearance was measured from the crown: no contact row, the old wording.
    stored = _occlusal_report(
        warnings=[{"code": "clearance_low", "value": 0.7, "limit": 1.0, "message": "low"}]
    )
    del stored["occlusal_contact_mm"]
    with translation.override("en"):
        figures = _crown_figures({"tooth": 36, "report": stored})
    whats = [what for what, _, _ in figures.rows]
    assert "Occlusal contact" not in whats
    assert "Occlusal clearance" in whats
    assert figures.warnings == ["Occlusal clearance 0.70 mm, at least 1.00 mm for this material."]
