"""The 3D viewer's server side: the meshes a revision is reviewed with, the viewer's
configuration, the review page's context and what it never shows, the meshes API, the case
page's links to it, and the demo meshes made for it (arches in occlusion, a crown)."""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Callable

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse
from pytest_django import DjangoAssertNumQueries

from cuspid.accounts.models import User
from cuspid.cases.models import Attachment, Case, Revision
from cuspid.cases.selectors.viewer import case_revision_list_for, revision_mesh_list_for
from cuspid.cases.services import Upload, attachment_add, revision_create
from cuspid.cases.views import compare as compare_views
from cuspid.cases.views.viewer import ColorMap, attachment_url, viewer_config
from cuspid.cases.workflow import Side
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import LabConnection, Membership, Organization
from cuspid.web.demo_scans import (
    BITE_LIFT,
    BITE_OVERJET,
    CROWN_CLEARANCE,
    arch_mesh,
    arch_stl,
    crown_mesh,
    crown_stl,
)
from tests.factories.cases import actor_of, make_case, make_patient, send_case, transition

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]

# Names that say who the patient is, and the names the files were uploaded under.
GIVEN, FAMILY = "Zephyrine", "Quillfeather"
UPLOAD_NAMES = ("Quillfeather-lower.stl", "Quillfeather-upper.stl", "crown-36-Quillfeather.stl")


@pytest.fixture
def clinician(clinic: Organization, member_of: MemberOf) -> Membership:
    return member_of(clinic, Role.CLINICIAN)


@pytest.fixture
def designer(lab: Organization, member_of: MemberOf) -> Membership:
    return member_of(lab, Role.DESIGNER)


def _upload(data: bytes, name: str, layer: str = "") -> Upload:
    return Upload(file=io.BytesIO(data), filename=name, layer=layer)


def _revise(designer: Membership, case: Case, *datas: bytes, note: str = "") -> Revision:
    uploads = [_upload(data, f"{index}-{UPLOAD_NAMES[2]}") for index, data in enumerate(datas)]
    return revision_create(actor=actor_of(designer), case=case, uploads=uploads, note=note)


@pytest.fixture
def case(
    clinician: Membership, designer: Membership, lab: Organization, connection_: LabConnection
) -> Case:
    """A crown case: the prepared lower jaw and the opposing upper jaw (in occlusion), sent to
    the lab and accepted; no revision yet."""
    patient = make_patient(clinician, given_name=GIVEN, family_name=FAMILY)
    made = make_case(clinician, patient, scans=0)
    actor = actor_of(clinician)
    attachment_add(
        actor=actor, case=made, upload=_upload(arch_stl(11, jaw="lower"), UPLOAD_NAMES[0])
    )
    upper = arch_stl(12, jaw="upper", bite=True)
    attachment_add(actor=actor, case=made, upload=_upload(upper, UPLOAD_NAMES[1], "antagonist"))
    made = send_case(clinician, made, lab)
    return transition(designer, made, "accept")


@pytest.fixture
def revision(case: Case, designer: Membership) -> Revision:
    return _revise(designer, case, crown_stl(11), note="Anatomic crown.")


# --- which meshes ---------------------------------------------------------------------------


def test_a_revision_is_reviewed_with_its_files_and_the_clinics_scans_in_layer_order(
    case: Case, revision: Revision, designer: Membership, clinician: Membership
) -> None:
    transition(designer, case, "send_for_review")
    case = transition(clinician, Case.objects.get(pk=case.pk), "request_changes", "Tighter.")
    later = _revise(designer, case, crown_stl(13), crown_stl(14))
    # Another case of the same clinic: none of its files belong here.
    make_case(clinician, scans=1)

    first = revision_mesh_list_for(revision=revision)
    second = revision_mesh_list_for(revision=later)

    assert [m.layer for m in first] == ["prepared", "antagonist", "proposal"]
    assert [m.layer for m in second] == ["prepared", "antagonist", "proposal", "proposal"]
    assert first[:2] == second[:2]
    assert {m.revision_id for m in first[2:]} == {revision.id}
    assert {m.revision_id for m in second[2:]} == {later.id}
    assert {m.case_id for m in first + second} == {case.id}


def test_the_mesh_list_is_one_query(
    revision: Revision, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    with django_assert_num_queries(1):
        meshes = revision_mesh_list_for(revision=revision)
        assert [m.revision.number if m.revision else None for m in meshes] == [None, None, 1]
        assert {m.case.reference for m in meshes} == {revision.case.reference}
    with django_assert_num_queries(1):
        assert [r.organization.name for r in case_revision_list_for(revision=revision)]


def test_files_without_a_viewer_layer_are_left_out(
    case: Case, revision: Revision, clinician: Membership
) -> None:
    Attachment.objects.filter(case=case, layer="prepared").update(layer="")
    assert [m.layer for m in revision_mesh_list_for(revision=revision)] == [
        "antagonist",
        "proposal",
    ]


# --- the configuration ------------------------------------------------------------------------


def test_the_config_names_layers_and_sizes_never_the_uploaded_names(revision: Revision) -> None:
    meshes = revision_mesh_list_for(revision=revision)
    config = viewer_config(meshes, can_pin=True)

    assert config["canPin"] is True
    assert config["colorMap"] is None
    entries = config["meshes"]
    assert isinstance(entries, list)
    assert [e["layer"] for e in entries] == ["prepared", "antagonist", "proposal"]
    assert [e["label"] for e in entries] == ["Prepared jaw", "Opposing jaw", "Design proposal"]
    for entry, mesh in zip(entries, meshes, strict=True):
        assert entry == {
            "id": str(mesh.id),
            "url": reverse("cases:attachment_download", args=[mesh.id]),
            "layer": mesh.layer,
            "label": entry["label"],
            "faces": mesh.face_count,
            "bytes": mesh.size,
            "format": "stl",
        }
        assert mesh.face_count
        assert mesh.face_count > 0
    text = json.dumps(config)
    for name in UPLOAD_NAMES:
        assert name not in text


def test_several_meshes_of_one_layer_are_numbered(case: Case, designer: Membership) -> None:
    revision = _revise(designer, case, crown_stl(11, tooth=1), crown_stl(11, tooth=2))
    config = viewer_config(revision_mesh_list_for(revision=revision))
    labels = [entry["label"] for entry in config["meshes"]]  # type: ignore[attr-defined]  # a list of dicts
    assert labels == ["Prepared jaw", "Opposing jaw", "Design proposal 1", "Design proposal 2"]
    assert config["canPin"] is False


def test_a_colour_map_and_another_url_builder(revision: Revision) -> None:
    meshes = revision_mesh_list_for(revision=revision)
    proposal = meshes[-1]
    config = viewer_config(
        meshes,
        color_map=ColorMap(mesh_id=proposal.id, url="/distances/1/", max_mm=0.25),
        url_for=lambda mesh: f"/r/token/files/{mesh.id}/",
    )
    assert config["colorMap"] == {"meshId": str(proposal.id), "url": "/distances/1/", "maxMm": 0.25}
    assert [e["url"] for e in config["meshes"]] == [  # type: ignore[attr-defined]  # dicts
        f"/r/token/files/{mesh.id}/" for mesh in meshes
    ]
    assert attachment_url(proposal) == f"/files/{proposal.id}/"


# --- the review page -------------------------------------------------------------------------


def _config_of(body: str) -> dict[str, object]:
    match = re.search(r'<script id="viewer-config" type="application/json">(.*?)</script>', body)
    assert match is not None
    loaded: dict[str, object] = json.loads(match.group(1))
    return loaded


@pytest.mark.parametrize("side", ["clinic", "lab"])
def test_the_review_page_holds_the_revision_the_viewer_and_the_panels(
    side: str,
    revision: Revision,
    clinician: Membership,
    designer: Membership,
    signed_in: SignedIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        compare_views, "panel_context", lambda request, actor, revision: {"compare_probe": 7}
    )
    member = clinician if side == "clinic" else designer
    response = signed_in(member.user).get(f"/revisions/{revision.id}/")
    body = response.content.decode()

    assert response.status_code == 200
    context = response.context
    assert context["case"] == revision.case
    assert context["revision"] == revision
    assert context["side"] == (Side.CLINIC if side == "clinic" else Side.LAB)
    assert context["actor"].membership == member
    assert context["is_latest"] is True
    assert context["compare_probe"] == 7
    assert [r.number for r in context["revisions"]] == [1]
    used = {template.name for template in response.templates}
    for partial in (
        "_viewer",
        "_annotations",
        "_comments",
        "_approval",
        "_package",
        "_links",
        "_compare",
    ):
        assert f"cases/review/{partial}.html" in used
    for sheet in ("viewer", "review", "approvals", "packages", "review_links", "compare"):
        assert f"/static/web/review/{sheet}.css" in body
    assert "insights.css" not in body
    assert "/static/dist/viewer/viewer.js" in body
    assert 'data-worker-url="/static/dist/viewer/mesh-worker.js"' in body
    assert revision.case.reference in body
    assert "Anatomic crown." in body
    assert "Latest revision" in body
    config = _config_of(body)
    assert [mesh["url"] for mesh in config["meshes"]] == [  # type: ignore[attr-defined]  # dicts
        f"/files/{mesh.id}/" for mesh in revision_mesh_list_for(revision=revision)
    ]
    assert config["canPin"] is True


def test_the_page_never_shows_who_the_patient_is_nor_the_file_names(
    revision: Revision, clinician: Membership, designer: Membership, signed_in: SignedIn
) -> None:
    for member in (clinician, designer):
        body = signed_in(member.user).get(f"/revisions/{revision.id}/").content.decode()
        for value in (GIVEN, FAMILY, "1980-12-10", *UPLOAD_NAMES):
            assert value not in body, (member.role, value)


def test_an_older_revision_says_so_and_links_the_latest(
    case: Case, revision: Revision, clinician: Membership, designer: Membership, signed_in: SignedIn
) -> None:
    transition(designer, case, "send_for_review")
    case = transition(clinician, Case.objects.get(pk=case.pk), "request_changes", "Tighter.")
    later = _revise(designer, case, crown_stl(13))
    client = signed_in(clinician.user)

    old = client.get(f"/revisions/{revision.id}/")
    new = client.get(f"/revisions/{later.id}/")

    assert old.context["is_latest"] is False
    assert new.context["is_latest"] is True
    assert [r.number for r in old.context["revisions"]] == [2, 1]
    old_body = old.content.decode()
    assert "Superseded" in old_body
    assert f'href="/revisions/{later.id}/"' in old_body
    assert "only the latest revision can be approved" in old_body
    new_body = new.content.decode()
    assert f'href="/revisions/{revision.id}/"' in new_body
    assert 'aria-current="page"' in new_body


def test_lab_staff_may_look_but_not_pin(
    revision: Revision, lab: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    body = signed_in(member_of(lab, Role.LAB_STAFF).user).get(f"/revisions/{revision.id}/")
    assert body.status_code == 200
    assert _config_of(body.content.decode())["canPin"] is False


def test_the_case_page_links_every_revision_to_its_review(
    case: Case, revision: Revision, clinician: Membership, signed_in: SignedIn
) -> None:
    body = signed_in(clinician.user).get(f"/cases/{case.id}/").content.decode()
    assert f'<a class="button" href="/revisions/{revision.id}/">Review revision 1 in 3D</a>' in body
    assert f'href="/revisions/{revision.id}/">View revision 1 in 3D</a>' in body


def test_a_case_without_revisions_offers_no_review(
    case: Case, clinician: Membership, signed_in: SignedIn
) -> None:
    body = signed_in(clinician.user).get(f"/cases/{case.id}/").content.decode()
    assert "in 3D" not in body


# --- the meshes API ----------------------------------------------------------------------------


def test_the_api_lists_the_meshes_with_their_download_urls(
    revision: Revision, designer: Membership, signed_in: SignedIn
) -> None:
    response = signed_in(designer.user).get(f"/api/v1/revisions/{revision.id}/meshes")
    assert response.status_code == 200
    rows = response.json()
    meshes = revision_mesh_list_for(revision=revision)
    assert [row["id"] for row in rows] == [str(mesh.id) for mesh in meshes]
    assert [row["layer"] for row in rows] == ["prepared", "antagonist", "proposal"]
    assert [row["label"] for row in rows] == ["Prepared jaw", "Opposing jaw", "Design proposal"]
    assert rows[2]["revision_id"] == str(revision.id)
    assert rows[0]["revision_id"] is None
    assert rows[0]["download_url"] == f"/api/v1/attachments/{meshes[0].id}/content"
    assert rows[0]["face_count"] == meshes[0].face_count
    assert all(name not in response.content.decode() for name in UPLOAD_NAMES)


def test_the_api_answers_404_for_a_revision_that_does_not_exist(
    clinician: Membership, signed_in: SignedIn, db: None
) -> None:
    response = signed_in(clinician.user).get(f"/api/v1/revisions/{uuid.uuid4()}/meshes")
    assert response.status_code == 404


# --- the demo meshes made for the viewer --------------------------------------------------


def test_a_bite_puts_the_upper_arch_on_the_lower_one() -> None:
    lower, _ = arch_mesh(3, jaw="lower")
    upper, faces = arch_mesh(3, jaw="upper")
    bitten, bitten_faces = arch_mesh(3, jaw="upper", bite=True)

    np.testing.assert_array_equal(faces, bitten_faces)
    np.testing.assert_allclose(
        bitten - upper, np.tile([0, BITE_OVERJET, BITE_LIFT], (len(upper), 1)), atol=1e-4
    )
    # Facing each other: the upper teeth point down at the lower teeth from above them.
    assert bitten[:, 2].max() > lower[:, 2].max()
    assert bitten[:, 2].min() < lower[:, 2].max()
    assert bitten[:, 2].min() > lower[:, 2].min()
    np.testing.assert_array_equal(arch_mesh(3, jaw="lower", bite=True)[0], lower)
    assert arch_stl(3, jaw="upper", bite=True) != arch_stl(3, jaw="upper")


def test_the_large_writer_places_its_arch_in_the_bite_too(tmp_path: object) -> None:
    from pathlib import Path

    from cuspid.web.demo_scans import write_large_arch_stl

    assert isinstance(tmp_path, Path)
    target = len(arch_stl(5))
    path = tmp_path / "bite.stl"
    write_large_arch_stl(path, target, seed=5, bite=True)
    assert path.read_bytes() == arch_stl(5, bite=True)


def test_a_crown_shell_sits_on_its_tooth() -> None:
    vertices, faces = crown_mesh(11, tooth=1)
    arch, _ = arch_mesh(11, jaw="lower")

    assert faces.min() >= 0
    assert faces.max() < len(vertices)
    low, high = vertices.min(axis=0), vertices.max(axis=0)
    assert 8 < high[0] - low[0] < 16, "about one molar long"
    assert high[2] > arch[:, 2].max() - 8 + CROWN_CLEARANCE
    assert low[2] > 3, "from just below the gum line up"
    # Wound outwards: the shell's normals point away from its centre on average.
    corners = vertices[faces].astype(np.float64)
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    outwards = corners.mean(axis=1) - vertices.mean(axis=0)
    assert (np.einsum("ij,ij->i", normals, outwards) > 0).mean() > 0.9
    assert len(crown_stl(11, tooth=1)) == 84 + 50 * len(faces)
    upper, _ = crown_mesh(11, jaw="upper", tooth=12, bite=True)
    assert upper[:, 2].min() > 10


@pytest.mark.parametrize("tooth", [-1, 14, True, 1.5])
def test_a_crown_needs_one_of_the_fourteen_teeth(tooth: object) -> None:
    with pytest.raises(ValueError, match="tooth"):
        crown_mesh(1, tooth=tooth)  # type: ignore[arg-type]  # deliberately wrong


def test_a_crown_is_accepted_as_a_design_file(case: Case, designer: Membership) -> None:
    revision = _revise(designer, case, crown_stl(11))
    [design] = Attachment.objects.filter(revision=revision)
    _vertices, faces = crown_mesh(11)
    assert (design.face_count, design.layer) == (len(faces), "proposal")
