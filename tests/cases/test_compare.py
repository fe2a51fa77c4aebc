"""Revision comparisons: the request service (inline and queued), the task, retries and
failures, the selectors and the policy.

Everything goes through the real services on the test database. Celery does not run here:
the queued path is checked by capturing the ``on_commit`` callbacks (without running them,
which would reach for a broker) and calling the task's function directly.
"""

from __future__ import annotations

import datetime
import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.db.models import Max
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings

from cuspid.accounts.models import User
from cuspid.audit.actions import AuditAction
from cuspid.audit.models import AuditEvent
from cuspid.cases.enums import ComparisonStatus, Layer
from cuspid.cases.models import Attachment, RevisionComparison
from cuspid.cases.policies.compare import access_comparison
from cuspid.cases.selectors.compare import (
    compare_target_list_for,
    comparison_get_for,
    proposal_mesh_get_for,
)
from cuspid.cases.services.compare import (
    INLINE_MAX_FACES,
    STALE_AFTER,
    SYSTEM_REASON,
    _comparison_store,
    comparison_compute,
    comparison_request,
)
from cuspid.cases.tasks import comparison_compute_task
from cuspid.cases.views.compare import legend_scale_mm
from cuspid.core import clock
from cuspid.core.actors import SystemActor
from cuspid.core.errors import InvalidInput, NotFound, PermissionDenied
from cuspid.keys.blobs import blob_chunks
from cuspid.keys.models import OwnerKind
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.factories import make_lab
from tests.factories.cases import Team, actor_of, transition
from tests.factories.compare import (
    Compared,
    break_mesh,
    case_with_revisions,
    large_arch_stl,
    lose_stored_file,
    proposal_of,
    sphere_stl,
    use_blob_dir,
)

MemberOf = Callable[[Organization, Role], Membership]
Capture = Callable[..., Any]
SignedIn = Callable[[User], Client]
SYSTEM = SystemActor(reason=SYSTEM_REASON)


@pytest.fixture(autouse=True)
def _blob_store(settings: Settings, tmp_path: Path) -> None:
    use_blob_dir(settings, tmp_path)


@pytest.fixture
def spheres(team: Team) -> Compared:
    """Revision 1: a 10 mm sphere; revision 2: a concentric 10.3 mm one (1280 facets each)."""
    return case_with_revisions(
        team.clinician, team.designer, team.lab, [sphere_stl(3, 10.0), sphere_stl(3, 10.3)]
    )


def _mark() -> int:
    return int(AuditEvent.objects.aggregate(n=Max("sequence"))["n"] or 0)


def _requested_since(mark: int) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(
            sequence__gt=mark, action=AuditAction.Case.ComparisonRequested
        ).order_by("sequence")
    )


def _distances(comparison: RevisionComparison) -> np.ndarray[Any, np.dtype[np.float32]]:
    assert comparison.blob is not None
    return np.frombuffer(b"".join(blob_chunks(comparison.blob)), dtype="<f4")


def _reloaded(comparison: RevisionComparison) -> RevisionComparison:
    return RevisionComparison.objects.select_related("blob").get(pk=comparison.pk)


# --- computed in the request ----------------------------------------------------------------------


def test_a_small_pair_is_computed_in_the_request(team: Team, spheres: Compared) -> None:
    older, newer = spheres.revisions
    mark = _mark()
    comparison = comparison_request(actor=actor_of(team.clinician), revision=newer, baseline=older)
    assert comparison.status == ComparisonStatus.READY
    distances = _distances(comparison)
    # One distance per vertex of the newer design in loader order (3 per STL facet): the
    # 10.3 mm sphere's vertices lie 0.3 mm outside the 10 mm one.
    assert distances.shape == (3 * (proposal_of(newer).face_count or 0),)
    np.testing.assert_allclose(distances, 0.3, atol=1e-4)
    assert comparison.stats is not None
    assert comparison.stats["vertex_count"] == len(distances)
    assert comparison.stats["p95_abs"] == pytest.approx(0.3, abs=1e-4)
    assert comparison.stats["min"] > 0
    blob = comparison.blob
    assert blob is not None
    assert (blob.owner_kind, blob.owner_id) == (OwnerKind.PATIENT, spheres.case.patient_id)
    assert (comparison.case_id, comparison.patient_id) == (spheres.case.id, spheres.case.patient_id)
    assert comparison.requested_by_id == team.clinician.user.pk
    assert comparison.organization_id == team.clinic.id
    [event] = _requested_since(mark)
    assert (event.target_type, event.target_id) == ("revision_comparison", str(comparison.id))
    assert event.subject_patient == str(spheres.case.patient_id)
    assert event.actor_user_id == team.clinician.user.pk
    assert (event.data_type, event.purpose, event.outcome) == ("case", "treatment", "allowed")


def test_the_other_way_round_the_distances_are_inside_and_negative(
    team: Team, spheres: Compared
) -> None:
    older, newer = spheres.revisions
    comparison = comparison_request(actor=actor_of(team.designer), revision=older, baseline=newer)
    distances = _distances(comparison)
    # The 10 mm sphere's vertices lie inside the 10.3 mm polyhedron (whose flat facets sit a
    # little inside the 10.3 mm sphere): 0.29 to 0.30 mm deep.
    assert np.all(distances < 0)
    np.testing.assert_allclose(distances, -0.3, atol=0.002)
    assert comparison.organization_id == team.lab.id


def test_asking_again_returns_the_same_comparison_and_changes_nothing(
    team: Team, spheres: Compared
) -> None:
    older, newer = spheres.revisions
    first = comparison_request(actor=actor_of(team.clinician), revision=newer, baseline=older)
    mark = _mark()
    again = comparison_request(actor=actor_of(team.designer), revision=newer, baseline=older)
    assert again.pk == first.pk
    assert (again.blob_id, again.updated_at, again.requested_by_id) == (
        first.blob_id,
        first.updated_at,
        team.clinician.user.pk,
    )
    # Asked, so audited, even though nothing changed.
    [event] = _requested_since(mark)
    assert (event.target_id, event.actor_user_id) == (str(first.id), team.designer.user.pk)
    assert RevisionComparison.objects.count() == 1


# --- refused --------------------------------------------------------------------------------------


def test_a_role_without_case_view_may_not_ask(
    team: Team, spheres: Compared, member_of: MemberOf
) -> None:
    older, newer = spheres.revisions
    admin = member_of(team.clinic, Role.ORG_ADMIN)
    mark = _mark()
    with pytest.raises(PermissionDenied):
        comparison_request(actor=actor_of(admin), revision=newer, baseline=older)
    assert RevisionComparison.objects.count() == 0
    assert _requested_since(mark) == []


def test_a_member_of_another_clinic_may_not_ask(
    team: Team, spheres: Compared, other_clinic: Organization, member_of: MemberOf
) -> None:
    older, newer = spheres.revisions
    stranger = member_of(other_clinic, Role.CLINICIAN)
    with pytest.raises(PermissionDenied):
        comparison_request(actor=actor_of(stranger), revision=newer, baseline=older)
    assert RevisionComparison.objects.count() == 0


def test_a_revision_is_not_compared_with_itself_or_another_cases(
    team: Team, spheres: Compared
) -> None:
    newer = spheres.revisions[1]
    other = case_with_revisions(team.clinician, team.designer, team.lab, [sphere_stl(2, 9.0)])
    actor = actor_of(team.clinician)
    with pytest.raises(InvalidInput, match="another revision"):
        comparison_request(actor=actor, revision=newer, baseline=newer)
    with pytest.raises(InvalidInput, match="same case"):
        comparison_request(actor=actor, revision=newer, baseline=other.revisions[0])
    assert RevisionComparison.objects.count() == 0


def test_both_revisions_need_a_design_mesh(team: Team, spheres: Compared) -> None:
    older, newer = spheres.revisions
    Attachment.objects.filter(revision=older).update(layer="")
    with pytest.raises(InvalidInput, match="design mesh"):
        comparison_request(actor=actor_of(team.clinician), revision=newer, baseline=older)
    assert RevisionComparison.objects.count() == 0


# --- queued for a worker --------------------------------------------------------------------------


def _large(team: Team) -> Compared:
    return case_with_revisions(
        team.clinician, team.designer, team.lab, [large_arch_stl(1), large_arch_stl(2)]
    )


def test_a_large_pair_is_queued_and_the_task_computes_it_once(
    team: Team, django_capture_on_commit_callbacks: Capture
) -> None:
    large = _large(team)
    older, newer = large.revisions
    assert (proposal_of(older).face_count or 0) + (
        proposal_of(newer).face_count or 0
    ) > INLINE_MAX_FACES
    mark = _mark()
    with django_capture_on_commit_callbacks() as callbacks:
        comparison = comparison_request(
            actor=actor_of(team.clinician), revision=newer, baseline=older
        )
    assert comparison.status == ComparisonStatus.PENDING
    assert comparison.blob_id is None
    # The blob store's own promotion is not among them: nothing was stored yet.
    assert len(callbacks) == 1
    assert len(_requested_since(mark)) == 1

    assert comparison_compute_task(str(comparison.id)) == ComparisonStatus.READY
    ready = _reloaded(comparison)
    distances = _distances(ready)
    assert distances.shape == (3 * (proposal_of(newer).face_count or 0),)
    assert ready.stats is not None
    assert ready.stats["max_abs"] == pytest.approx(float(np.abs(distances).max()), abs=1e-4)

    # A second delivery (or a second enqueue) does nothing.
    assert comparison_compute_task(str(comparison.id)) == ComparisonStatus.READY
    again = _reloaded(comparison)
    assert (again.blob_id, again.updated_at) == (ready.blob_id, ready.updated_at)
    assert len(_requested_since(mark)) == 1


def test_a_crashed_task_leaves_the_comparison_pending_for_its_retry(
    team: Team, django_capture_on_commit_callbacks: Capture
) -> None:
    large = _large(team)
    older, newer = large.revisions
    with django_capture_on_commit_callbacks():
        comparison = comparison_request(
            actor=actor_of(team.clinician), revision=newer, baseline=older
        )
    mesh = proposal_of(older)
    content = b"".join(blob_chunks(mesh.blob))
    lose_stored_file(mesh)
    with pytest.raises(FileNotFoundError):
        comparison_compute_task(str(comparison.id))
    assert _reloaded(comparison).status == ComparisonStatus.PENDING
    # The storage is back (here: the same bytes stored again); the retry finishes it.
    break_mesh(proposal_of(older), content)
    assert comparison_compute_task(str(comparison.id)) == ComparisonStatus.READY


def test_a_crash_in_the_request_queues_the_comparison_for_a_worker(
    team: Team, spheres: Compared, django_capture_on_commit_callbacks: Capture
) -> None:
    older, newer = spheres.revisions
    lose_stored_file(proposal_of(newer))
    with django_capture_on_commit_callbacks() as callbacks:
        comparison = comparison_request(
            actor=actor_of(team.clinician), revision=newer, baseline=older
        )
    assert comparison.status == ComparisonStatus.PENDING
    assert len(callbacks) == 1
    assert _reloaded(comparison).status == ComparisonStatus.PENDING


# --- failures and retries -------------------------------------------------------------------------


def test_a_broken_mesh_fails_with_a_code_and_asking_again_retries(
    team: Team, spheres: Compared
) -> None:
    older, newer = spheres.revisions
    mesh = proposal_of(older)
    content = b"".join(blob_chunks(mesh.blob))
    break_mesh(mesh)
    mark = _mark()
    actor = actor_of(team.clinician)
    failed = comparison_request(actor=actor, revision=newer, baseline=older)
    assert failed.status == ComparisonStatus.FAILED
    assert failed.stats == {"error": "unreadable"}
    assert failed.blob_id is None
    # Still broken: tried again, failed again, each request audited.
    again = comparison_request(actor=actor, revision=newer, baseline=older)
    assert (again.pk, again.status) == (failed.pk, ComparisonStatus.FAILED)
    # Repaired: the next request computes it.
    break_mesh(proposal_of(older), content)
    ready = comparison_request(actor=actor_of(team.designer), revision=newer, baseline=older)
    assert (ready.pk, ready.status) == (failed.pk, ComparisonStatus.READY)
    assert ready.requested_by_id == team.designer.user.pk
    assert len(_requested_since(mark)) == 3


def test_a_mesh_gone_by_the_time_it_computes_fails_with_no_mesh(
    team: Team, django_capture_on_commit_callbacks: Capture
) -> None:
    large = _large(team)
    older, newer = large.revisions
    with django_capture_on_commit_callbacks():
        comparison = comparison_request(
            actor=actor_of(team.clinician), revision=newer, baseline=older
        )
    Attachment.objects.filter(revision=newer).update(layer="")
    assert comparison_compute_task(str(comparison.id)) == ComparisonStatus.FAILED
    assert _reloaded(comparison).stats == {"error": "no_mesh"}


def test_a_pending_comparison_is_run_again_only_once_it_is_stale(
    team: Team, django_capture_on_commit_callbacks: Capture
) -> None:
    large = _large(team)
    older, newer = large.revisions
    actor = actor_of(team.clinician)
    with django_capture_on_commit_callbacks() as first:
        comparison = comparison_request(actor=actor, revision=newer, baseline=older)
    mark = _mark()
    with django_capture_on_commit_callbacks() as fresh:
        comparison_request(actor=actor, revision=newer, baseline=older)
    assert (len(first), len(fresh), len(_requested_since(mark))) == (1, 0, 1)
    stale = clock.now() - STALE_AFTER - datetime.timedelta(seconds=1)
    RevisionComparison.objects.filter(pk=comparison.pk).update(updated_at=stale)
    with django_capture_on_commit_callbacks() as rerun:
        again = comparison_request(actor=actor, revision=newer, baseline=older)
    assert again.status == ComparisonStatus.PENDING
    assert again.updated_at > stale
    assert len(rerun) == 1
    assert len(_requested_since(mark)) == 2


def test_computing_a_comparison_that_is_gone_or_decided_does_nothing(
    team: Team, spheres: Compared
) -> None:
    older, newer = spheres.revisions
    assert comparison_compute(actor=SYSTEM, comparison_id=uuid.uuid4()) is None
    assert comparison_compute_task(str(uuid.uuid4())) == "missing"
    ready = comparison_request(actor=actor_of(team.clinician), revision=newer, baseline=older)
    assert comparison_compute(actor=SYSTEM, comparison_id=ready.id) == ready
    # A second run that finishes after the first keeps the first's result.
    kept = _comparison_store(ready.id, error="unreadable")
    assert (kept.status, kept.blob_id, kept.stats) == (ready.status, ready.blob_id, ready.stats)


# --- selectors and policy -------------------------------------------------------------------------


def test_the_targets_are_the_other_revisions_with_a_mesh_newest_first(
    team: Team, django_assert_num_queries: Any
) -> None:
    three = case_with_revisions(
        team.clinician,
        team.designer,
        team.lab,
        [sphere_stl(2, 10.0), sphere_stl(2, 10.1), sphere_stl(2, 10.2)],
    )
    first, second, third = three.revisions
    done = comparison_request(actor=actor_of(team.clinician), revision=third, baseline=second)
    with django_assert_num_queries(3):
        targets = compare_target_list_for(revision=second)
    assert [(t.other.number, t.newer.number, t.older.number) for t in targets] == [
        (3, 3, 2),
        (1, 2, 1),
    ]
    assert [t.comparison for t in targets] == [done, None]
    Attachment.objects.filter(revision=first).update(layer="")
    assert [t.other.number for t in compare_target_list_for(revision=second)] == [3]
    assert compare_target_list_for(revision=first) == []


def test_a_revision_is_compared_by_its_first_design_mesh(team: Team, spheres: Compared) -> None:
    older, newer = spheres.revisions
    mesh = proposal_mesh_get_for(revision=newer)
    assert mesh is not None
    assert (mesh.revision_id, mesh.layer) == (newer.id, Layer.PROPOSAL)
    assert comparison_get_for(revision=newer, baseline=older) is None
    made = comparison_request(actor=actor_of(team.clinician), revision=newer, baseline=older)
    assert comparison_get_for(revision=newer, baseline=older) == made
    assert comparison_get_for(revision=older, baseline=newer) is None


def test_a_comparison_is_seen_with_its_case_only(
    team: Team, spheres: Compared, other_clinic: Organization, member_of: MemberOf
) -> None:
    older, newer = spheres.revisions
    comparison = comparison_request(actor=actor_of(team.clinician), revision=newer, baseline=older)
    assert access_comparison(actor_of(team.clinician), comparison.id) == comparison
    assert access_comparison(actor_of(team.designer), comparison.id) == comparison
    outsiders = [
        member_of(other_clinic, Role.CLINICIAN),
        member_of(make_lab(name="Distant Lab"), Role.DESIGNER),
    ]
    for outsider in outsiders:
        with pytest.raises(NotFound):
            access_comparison(actor_of(outsider), comparison.id)
    with pytest.raises(NotFound):
        access_comparison(actor_of(team.clinician), uuid.uuid4())
    transition(team.clinician, spheres.case, "revoke_share")
    with pytest.raises(NotFound):
        access_comparison(actor_of(team.designer), comparison.id)


# --- pages ----------------------------------------------------------------------------------------

HTMX = {"HX-Request": "true"}


def _viewer_configs(response: Any) -> dict[str, Any]:
    """The viewer configurations a page embeds (json_script), by viewer id."""
    html = response.content.decode()
    found = re.findall(r'<script id="([\w-]+)-config" type="application/json">(.*?)</script>', html)
    return {viewer: json.loads(text) for viewer, text in found}


def test_the_review_page_offers_to_compare_with_the_other_revisions(
    team: Team, spheres: Compared, signed_in: SignedIn
) -> None:
    older, newer = spheres.revisions
    client = signed_in(team.clinician.user)
    page = client.get(reverse("cases:revision_review", args=[older.id]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Compare with revision 2" in html
    # The newer revision is the one painted, whichever page it is asked from.
    asked = reverse("cases:revision_compare_request", args=[newer.id, older.id])
    assert f'action="{asked}"' in html
    answered = client.post(asked)
    compare_url = reverse("cases:revision_compare", args=[newer.id, older.id])
    assert (answered.status_code, answered["Location"]) == (302, compare_url)
    # Once it exists: a link, with its state.
    later = signed_in(team.designer.user).get(reverse("cases:revision_review", args=[newer.id]))
    text = later.content.decode()
    assert f'href="{compare_url}"' in text
    assert "Compare with revision 1" in text
    assert "Ready" in text


def test_a_single_revision_has_nothing_to_compare_with_yet(team: Team, signed_in: SignedIn) -> None:
    single = case_with_revisions(team.clinician, team.designer, team.lab, [sphere_stl(2, 9.0)])
    page = signed_in(team.clinician.user).get(
        reverse("cases:revision_review", args=[single.revisions[0].id])
    )
    assert "When the lab uploads another revision" in page.content.decode()


def test_the_compare_page_shows_both_designs_and_the_colour_map(
    team: Team, spheres: Compared, signed_in: SignedIn
) -> None:
    older, newer = spheres.revisions
    client = signed_in(team.clinician.user)
    url = reverse("cases:revision_compare", args=[newer.id, older.id])
    before = client.get(url)
    assert "Compute the distance map" in before.content.decode()
    assert _viewer_configs(before)["compare-revision-viewer"]["colorMap"] is None
    client.post(reverse("cases:revision_compare_request", args=[newer.id, older.id]))
    comparison = RevisionComparison.objects.get()
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Revision 2 compared with revision 1" in html
    assert "hx-trigger" not in html
    assert "95 % of the surface within" in html
    assert "0.30 mm" in html
    configs = _viewer_configs(page)
    assert set(configs) == {"compare-baseline-viewer", "compare-revision-viewer"}
    [base] = configs["compare-baseline-viewer"]["meshes"]
    [mesh] = configs["compare-revision-viewer"]["meshes"]
    assert (base["id"], base["label"]) == (str(proposal_of(older).id), "Revision 1 design")
    assert (mesh["id"], mesh["label"]) == (str(proposal_of(newer).id), "Revision 2 design")
    assert configs["compare-baseline-viewer"]["colorMap"] is None
    assert configs["compare-revision-viewer"]["colorMap"] == {
        "meshId": str(proposal_of(newer).id),
        "url": reverse("cases:comparison_distances", args=[comparison.id]),
        "maxMm": 0.5,
    }
    overlaid = _viewer_configs(client.get(url, {"layout": "overlay"}))
    [config] = overlaid.values()
    assert [(m["label"], m["layer"]) for m in config["meshes"]] == [
        ("Revision 2 design", "proposal"),
        ("Revision 1 design", "reference"),
    ]
    assert config["colorMap"]["meshId"] == str(proposal_of(newer).id)


def test_the_distances_stream_to_the_viewer(
    team: Team, spheres: Compared, signed_in: SignedIn
) -> None:
    older, newer = spheres.revisions
    comparison = comparison_request(actor=actor_of(team.clinician), revision=newer, baseline=older)
    response = signed_in(team.designer.user).get(
        reverse("cases:comparison_distances", args=[comparison.id])
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Cache-Control"] == "no-store"
    assert (
        np.frombuffer(response.getvalue(), dtype="<f4").tolist() == _distances(comparison).tolist()
    )


def test_a_computing_comparison_polls_then_reloads_when_ready(
    team: Team, signed_in: SignedIn, django_capture_on_commit_callbacks: Capture
) -> None:
    large = _large(team)
    older, newer = large.revisions
    client = signed_in(team.clinician.user)
    with django_capture_on_commit_callbacks():
        client.post(reverse("cases:revision_compare_request", args=[newer.id, older.id]))
    comparison = RevisionComparison.objects.get()
    url = reverse("cases:revision_compare", args=[newer.id, older.id])
    page = client.get(url).content.decode()
    assert "Computing the distance map" in page
    assert f'hx-get="{url}"' in page
    assert 'hx-trigger="every 2s"' in page
    not_yet = client.get(reverse("cases:comparison_distances", args=[comparison.id]))
    assert not_yet.status_code == 409
    poll = client.get(url, headers=HTMX)
    assert "HX-Refresh" not in poll
    assert "<html" not in poll.content.decode()
    comparison_compute_task(str(comparison.id))
    done = client.get(url, headers=HTMX)
    assert done["HX-Refresh"] == "true"


def test_a_failed_comparison_says_so_and_offers_to_try_again(
    team: Team, spheres: Compared, signed_in: SignedIn
) -> None:
    older, newer = spheres.revisions
    break_mesh(proposal_of(older))
    client = signed_in(team.clinician.user)
    client.post(reverse("cases:revision_compare_request", args=[newer.id, older.id]))
    page = client.get(reverse("cases:revision_compare", args=[newer.id, older.id]))
    text = page.content.decode()
    assert "could not be computed" in text
    assert "One of the meshes could not be read." in text
    assert "Try again" in text
    RevisionComparison.objects.update(stats={"error": "too_large"})
    again = client.get(reverse("cases:revision_compare", args=[newer.id, older.id]))
    assert b"too large to compare" in again.content


def test_revisions_without_a_design_mesh_are_not_compared(
    team: Team, spheres: Compared, signed_in: SignedIn
) -> None:
    older, newer = spheres.revisions
    Attachment.objects.filter(revision=older).update(layer="")
    client = signed_in(team.clinician.user)
    page = client.get(reverse("cases:revision_compare", args=[newer.id, older.id]))
    assert "Both revisions need a design mesh" in page.content.decode()
    answered = client.post(reverse("cases:revision_compare_request", args=[newer.id, older.id]))
    assert answered["Location"] == reverse("cases:revision_review", args=[newer.id])
    assert RevisionComparison.objects.count() == 0
    followed = client.get(answered["Location"])
    assert "Both revisions need a design mesh to be compared." in followed.content.decode()


def test_a_revision_is_not_compared_with_itself_on_the_page(
    team: Team, spheres: Compared, signed_in: SignedIn
) -> None:
    newer = spheres.revisions[1]
    client = signed_in(team.clinician.user)
    assert (
        client.get(reverse("cases:revision_compare", args=[newer.id, newer.id])).status_code == 404
    )


def test_legend_scale_rounds_the_95th_percentile_up() -> None:
    assert legend_scale_mm(None) == 0.05
    assert legend_scale_mm({"p95_abs": 0.0}) == 0.05
    assert legend_scale_mm({"p95_abs": 0.12}) == 0.2
    assert legend_scale_mm({"p95_abs": 0.3}) == 0.5
    assert legend_scale_mm({"p95_abs": 40}) == 5.0
    assert legend_scale_mm({"p95_abs": "bad"}) == 0.05
