"""/api/v1 compare: asking for a comparison, reading it, downloading its distances; both
sides of the case, the queued path, failures and the errors."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.test import Client
from pytest_django.fixtures import Settings

from cuspid.accounts.models import User
from cuspid.cases.models import RevisionComparison
from cuspid.cases.tasks import comparison_compute_task
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.factories import make_lab_connection
from tests.factories.cases import Team, make_patient
from tests.factories.compare import (
    Compared,
    break_mesh,
    case_with_revisions,
    large_arch_stl,
    proposal_of,
    sphere_stl,
    use_blob_dir,
)

SignedIn = Callable[[User], Client]
MemberOf = Callable[[Organization, Role], Membership]
Capture = Callable[..., Any]
API = "/api/v1"
# Who the case is for: finding it in an answer would be a leak.
GIVEN, FAMILY = "Zebulon", "Quixley"


@pytest.fixture(autouse=True)
def _blob_store(settings: Settings, tmp_path: Path) -> None:
    use_blob_dir(settings, tmp_path)


def _case(team: Team, meshes: list[bytes]) -> Compared:
    make_patient(team.clinician, given_name=GIVEN, family_name=FAMILY)
    return case_with_revisions(team.clinician, team.designer, team.lab, meshes)


@pytest.fixture
def spheres(team: Team) -> Compared:
    return _case(team, [sphere_stl(3, 10.0), sphere_stl(3, 10.3)])


def _ask(client: Client, revision_id: object, baseline_id: object) -> Any:
    return client.post(
        f"{API}/revisions/{revision_id}/comparisons",
        {"baseline_id": str(baseline_id)},
        content_type="application/json",
    )


def _no_patient(response: Any) -> None:
    text = response.content.decode(errors="replace")
    assert GIVEN not in text
    assert FAMILY not in text


def test_a_small_comparison_answers_ready_with_its_summary_and_distances(
    team: Team, spheres: Compared, signed_in: SignedIn
) -> None:
    older, newer = spheres.revisions
    client = signed_in(team.clinician.user)
    response = _ask(client, newer.id, older.id)
    assert response.status_code == 200
    body = response.json()
    comparison = RevisionComparison.objects.get()
    assert body["id"] == str(comparison.id)
    assert (body["revision_id"], body["baseline_id"]) == (str(newer.id), str(older.id))
    assert body["mesh_id"] == str(proposal_of(newer).id)
    assert (body["case_id"], body["status"], body["error"]) == (str(spheres.case.id), "ready", None)
    assert body["stats"]["p95_abs"] == pytest.approx(0.3, abs=1e-4)
    assert set(body["stats"]) == {
        "vertex_count",
        "min",
        "max",
        "mean",
        "mean_abs",
        "p95_abs",
        "max_abs",
    }
    assert body["distances_url"] == f"{API}/comparisons/{comparison.id}/distances"
    _no_patient(response)

    got = signed_in(team.designer.user).get(f"{API}/comparisons/{comparison.id}")
    assert got.status_code == 200
    assert got.json() == body

    download = client.get(body["distances_url"])
    assert download.status_code == 200
    assert download["Content-Type"] == "application/octet-stream"
    assert download["Cache-Control"] == "no-store"
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download["Content-Disposition"] == (
        f'attachment; filename="{spheres.case.reference}-rev2-vs-rev1-distances.f32"'
    )
    content = download.getvalue()
    assert download["Content-Length"] == str(len(content))
    distances = np.frombuffer(content, dtype="<f4")
    assert (
        len(distances) == body["stats"]["vertex_count"] == 3 * (proposal_of(newer).face_count or 0)
    )
    np.testing.assert_allclose(distances, 0.3, atol=1e-4)


def test_asking_again_returns_the_same_comparison(
    team: Team, spheres: Compared, signed_in: SignedIn
) -> None:
    older, newer = spheres.revisions
    first = _ask(signed_in(team.clinician.user), newer.id, older.id).json()
    second = _ask(signed_in(team.designer.user), newer.id, older.id)
    assert second.status_code == 200
    assert second.json() == first
    assert RevisionComparison.objects.count() == 1


def test_a_large_comparison_answers_202_until_the_worker_has_computed_it(
    team: Team, signed_in: SignedIn, django_capture_on_commit_callbacks: Capture
) -> None:
    large = _case(team, [large_arch_stl(1), large_arch_stl(2)])
    older, newer = large.revisions
    client = signed_in(team.designer.user)
    with django_capture_on_commit_callbacks() as callbacks:
        response = _ask(client, newer.id, older.id)
    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["stats"], body["distances_url"]) == ("pending", None, None)
    assert len(callbacks) == 1
    early = client.get(f"{API}/comparisons/{body['id']}/distances")
    assert early.status_code == 409
    assert early.json()["code"] == "conflict"

    assert comparison_compute_task(body["id"]) == "ready"
    ready = client.get(f"{API}/comparisons/{body['id']}").json()
    assert ready["status"] == "ready"
    assert client.get(ready["distances_url"]).status_code == 200


def test_a_broken_mesh_answers_failed_with_its_code(
    team: Team, spheres: Compared, signed_in: SignedIn
) -> None:
    older, newer = spheres.revisions
    break_mesh(proposal_of(newer))
    response = _ask(signed_in(team.clinician.user), newer.id, older.id)
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["error"], body["stats"]) == ("failed", "unreadable", None)


def test_asking_wrongly_answers_422_and_stores_nothing(
    team: Team, spheres: Compared, signed_in: SignedIn
) -> None:
    newer = spheres.revisions[1]
    client = signed_in(team.clinician.user)
    same = _ask(client, newer.id, newer.id)
    assert (same.status_code, same.json()["code"]) == (422, "invalid")
    other = case_with_revisions(team.clinician, team.designer, team.lab, [sphere_stl(2, 9.0)])
    assert _ask(client, newer.id, other.revisions[0].id).status_code == 422
    assert client.post(
        f"{API}/revisions/{newer.id}/comparisons", {}, content_type="application/json"
    ).status_code in (400, 422)
    assert RevisionComparison.objects.count() == 0


def test_foreign_and_absent_revisions_and_comparisons_answer_404(
    team: Team,
    spheres: Compared,
    signed_in: SignedIn,
    other_clinic: Organization,
    member_of: MemberOf,
) -> None:
    older, newer = spheres.revisions
    client = signed_in(team.clinician.user)
    comparison_id = _ask(client, newer.id, older.id).json()["id"]
    stranger = member_of(other_clinic, Role.CLINICIAN)
    make_lab_connection(clinic=other_clinic, lab=team.lab)
    theirs = case_with_revisions(stranger, team.designer, team.lab, [sphere_stl(2, 9.0)])
    assert _ask(client, newer.id, theirs.revisions[0].id).status_code == 404
    assert _ask(client, uuid.uuid4(), older.id).status_code == 404
    outsider = signed_in(stranger.user)
    for path in (f"/comparisons/{comparison_id}", f"/comparisons/{comparison_id}/distances"):
        foreign = outsider.get(API + path)
        absent = outsider.get(API + path.replace(comparison_id, str(uuid.uuid4())))
        assert (foreign.status_code, absent.status_code) == (404, 404)
        assert foreign.json() == absent.json()


def test_a_role_without_case_view_answers_403(
    team: Team, spheres: Compared, signed_in: SignedIn, member_of: MemberOf
) -> None:
    older, newer = spheres.revisions
    admin = signed_in(member_of(team.clinic, Role.ORG_ADMIN).user)
    assert _ask(admin, newer.id, older.id).status_code == 403
    assert RevisionComparison.objects.count() == 0
