"""/api/v1 AI suggestions: asking for one, reading its progress and report, downloading its
segmentation; the errors a client sees."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from pytest_django.fixtures import Settings

from cuspid.accounts.models import User
from cuspid.cases.models import DesignSuggestion
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.factories import make_lab_connection
from tests.factories.cases import make_case, send_case, transition
from tests.factories.compare import use_blob_dir
from tests.factories.suggestions import ready_suggestion

SignedIn = Callable[[User], Client]
MemberOf = Callable[[Organization, Role], Membership]
API = "/api/v1"


@pytest.fixture(autouse=True)
def _blob_store(settings: Settings, tmp_path: Path) -> None:
    use_blob_dir(settings, tmp_path)


@pytest.fixture
def people(
    clinic: Organization, lab: Organization, member_of: MemberOf
) -> tuple[Membership, Membership, Organization]:
    make_lab_connection(clinic=clinic, lab=lab)
    return member_of(clinic, Role.CLINICIAN), member_of(lab, Role.DESIGNER), lab


def _json(response: Any) -> dict[str, Any]:
    return dict(response.json())


def test_asking_answers_202_with_the_queued_suggestion_and_asking_again_returns_it(
    people: tuple[Membership, Membership, Organization],
    signed_in: SignedIn,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    clinician, designer, lab = people
    case = transition(designer, send_case(clinician, make_case(clinician, scans=2), lab), "accept")
    client = signed_in(designer.user)
    url = f"{API}/cases/{case.id}/ai-suggestions"
    with django_capture_on_commit_callbacks(execute=False) as queued:
        first = client.post(url, "{}", content_type="application/json")
    assert first.status_code == 202
    body = _json(first)
    assert (body["status"], body["stage"], body["progress"], body["teeth"]) == (
        "pending",
        "queued",
        0,
        [36],
    )
    assert body["revision_id"] is None
    assert len(queued) == 1
    again = client.post(url, "{}", content_type="application/json")
    assert _json(again)["id"] == body["id"]
    read = client.get(f"{API}/ai-suggestions/{body['id']}")
    assert _json(read)["status"] == "pending"
    labels = client.get(f"{API}/ai-suggestions/{body['id']}/labels")
    assert labels.status_code == 409


def test_a_case_not_open_for_design_is_a_conflict_and_one_without_scans_unprocessable(
    people: tuple[Membership, Membership, Organization], signed_in: SignedIn
) -> None:
    clinician, designer, lab = people
    client = signed_in(designer.user)
    submitted = send_case(clinician, make_case(clinician), lab)
    response = client.post(
        f"{API}/cases/{submitted.id}/ai-suggestions", "{}", content_type="application/json"
    )
    assert response.status_code == 409
    case = transition(designer, send_case(clinician, make_case(clinician), lab), "accept")
    DesignSuggestion.objects.all().delete()
    case.attachments.update(layer="antagonist")
    response = client.post(
        f"{API}/cases/{case.id}/ai-suggestions", "{}", content_type="application/json"
    )
    assert response.status_code == 422
    assert "prepared jaw" in _json(response)["detail"]
    assert DesignSuggestion.objects.count() == 0


def test_a_ready_suggestion_reads_with_its_revision_report_and_labels(
    people: tuple[Membership, Membership, Organization], signed_in: SignedIn
) -> None:
    clinician, designer, lab = people
    case = transition(designer, send_case(clinician, make_case(clinician, scans=2), lab), "accept")
    suggestion = ready_suggestion(designer, case)
    client = signed_in(clinician.user)
    body = _json(client.get(f"{API}/ai-suggestions/{suggestion.id}"))
    assert body["status"] == "ready"
    assert body["revision_id"] == str(suggestion.revision_id)
    assert body["report"]["crowns"][0]["tooth"] == 36
    assert body["scan_id"] == str(suggestion.scan_id)
    labels = client.get(f"{API}/ai-suggestions/{suggestion.id}/labels")
    assert labels.status_code == 200
    data = labels.getvalue()
    assert data == bytes([36]) * (3 * (suggestion.scan.face_count or 0))
