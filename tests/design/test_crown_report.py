"""The crown report on constructed geometry whose numbers are known exactly."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import trimesh
from numpy.typing import NDArray

from cuspid.design.crown_report import (
    DEFAULT_CLEARANCE_MM,
    CrownReport,
    ReportLimits,
    WarningCode,
    crown_report,
    margin_length,
    open_edge_count,
    signed_volume,
)
from cuspid.design.mesh import Mesh

HALF = 5.0  # the crown is the cube [-5, 5]^3 unless a test says otherwise

_CUBE_FACES = np.array(
    [
        [0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
        [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3],
    ]
)  # fmt: skip


def _box(low: tuple[float, float, float], high: tuple[float, float, float]) -> Mesh:
    """An axis-aligned box with outward-wound faces (vertex k has bits x, y, z = k>>2, k>>1, k)."""
    corners = np.array(
        [
            [
                (high if (k >> axis_bit) & 1 else low)[axis]
                for axis, axis_bit in zip(range(3), (2, 1, 0), strict=True)
            ]
            for k in range(8)
        ],
        dtype=np.float64,
    )
    faces = _CUBE_FACES.copy()
    centre = corners.mean(axis=0)
    for row in faces:
        a, b, c = corners[row]
        if np.dot(np.cross(b - a, c - a), a + b + c - 3 * centre) < 0:
            row[[1, 2]] = row[[2, 1]]
    return Mesh.of(corners, faces)


def _cube(half: float = HALF, shift: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Mesh:
    low = tuple(s - half for s in shift)
    high = tuple(s + half for s in shift)
    return _box(low, high)  # type: ignore[arg-type]  # three floats each


def _square_margin(half: float = HALF, z: float = -HALF) -> NDArray[np.float64]:
    return np.array([[-half, -half, z], [half, -half, z], [half, half, z], [-half, half, z]])


def _circle(radius: float, count: int = 720) -> NDArray[np.float64]:
    angle = np.linspace(0.0, 2.0 * math.pi, count, endpoint=False)
    return np.stack([radius * np.cos(angle), radius * np.sin(angle), np.zeros(count)], axis=1)


MARGIN = _square_margin()


def _shelled(outer: Mesh, inner: Mesh) -> Mesh:
    """A crown with an intaglio: ``outer`` plus ``inner`` wound inwards (a closed cavity)."""
    faces = np.concatenate([outer.faces, inner.faces[:, ::-1] + outer.vertex_count])
    return Mesh.of(np.concatenate([outer.vertices, inner.vertices]), faces)


def test_a_closed_cube_is_watertight_with_its_exact_volume_and_no_warnings() -> None:
    report = crown_report(_cube(), margin=MARGIN)
    assert report.watertight
    assert report.volume_mm3 == pytest.approx(1000.0, rel=1e-9)
    assert report.warnings == []
    assert report.contacts_mm == []
    assert report.occlusal_clearance_mm is None
    assert report.min_wall_thickness_mm is None


def test_an_icosphere_volume_is_within_one_percent_and_winding_does_not_matter() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=4.0)
    mesh = Mesh.of(sphere.vertices, sphere.faces)
    inverted = Mesh.of(sphere.vertices, sphere.faces[:, ::-1])
    expected = 4.0 / 3.0 * math.pi * 4.0**3
    for crown in (mesh, inverted):
        report = crown_report(crown, margin=_circle(4.0))
        assert report.watertight
        assert report.volume_mm3 == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize(
    ("damage", "open_edges"),
    [("none", 0), ("delete_face", 3), ("flip_face", 3)],
)
def test_watertightness_matches_trimesh(damage: str, open_edges: int) -> None:
    cube = _cube()
    faces = cube.faces.copy()
    if damage == "delete_face":
        faces = faces[1:]
    elif damage == "flip_face":
        faces[0] = faces[0, ::-1]
    mesh = Mesh.of(cube.vertices, faces)
    reference = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    assert open_edge_count(mesh) == open_edges
    assert (open_edges == 0) == (reference.is_watertight and reference.is_winding_consistent)
    if open_edges == 0:
        assert signed_volume(mesh) == pytest.approx(reference.volume)


def test_a_crown_with_a_deleted_face_warns_not_watertight_and_has_no_volume() -> None:
    cube = _cube()
    report = crown_report(Mesh.of(cube.vertices, cube.faces[1:]), margin=MARGIN)
    assert not report.watertight
    assert report.volume_mm3 is None
    assert report.warning_codes == ["not_watertight"]
    assert report.warnings[0].value == 3.0
    assert report.warnings[0].limit == 0.0


@pytest.mark.parametrize(
    ("gap", "expected", "codes"),
    [
        (0.05, 0.05, []),
        (0.5, 0.5, ["contact_open"]),
        (-0.3, -0.3, ["contact_tight"]),
    ],
)
def test_contacts_measure_the_gap_to_each_neighbour(
    gap: float, expected: float, codes: list[str]
) -> None:
    # The neighbour is a smaller box (8 mm) beside the crown's +x face: gap is known exactly;
    # negative gaps push it into the crown, so its corners lie 0.3 mm deep inside.
    neighbour = _box((HALF + gap, -4.0, -4.0), (HALF + gap + 8.0, 4.0, 4.0))
    report = crown_report(_cube(), margin=MARGIN, neighbours=[neighbour])
    assert report.contacts_mm == [pytest.approx(expected, abs=1e-6)]
    assert report.warning_codes == codes
    for warning in report.warnings:
        assert warning.neighbour == 0
        assert warning.value == pytest.approx(expected, abs=1e-6)


def test_contacts_are_per_neighbour_in_order_and_an_open_neighbour_still_shows_overlap() -> None:
    mesial = _box((HALF + 0.05, -4.0, -4.0), (HALF + 8.0, 4.0, 4.0))
    distal_closed = _box((-HALF - 8.0, -4.0, -4.0), (-HALF + 0.2, 4.0, 4.0))
    # A scanned tooth is an open surface: drop two faces (the far side), keep its vertices.
    distal = Mesh.of(distal_closed.vertices, distal_closed.faces[2:])
    report = crown_report(_cube(), margin=MARGIN, neighbours=[mesial, distal])
    assert report.contacts_mm == [pytest.approx(0.05, abs=1e-6), pytest.approx(-0.2, abs=1e-6)]
    assert report.warning_codes == ["contact_tight"]
    assert report.warnings[0].neighbour == 1


def test_a_contact_between_an_edge_and_a_face_is_measured_within_resolution() -> None:
    # Rotated 45 degrees about z, the neighbour cube meets the crown's +x face with an edge.
    sphere_like = _cube(half=2.0)
    angle = math.pi / 4
    rotation = np.array(
        [[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]]
    )
    vertices = sphere_like.vertices @ rotation.T
    vertices[:, 0] += HALF + 0.07 - vertices[:, 0].min()
    neighbour = Mesh.of(vertices, sphere_like.faces)
    report = crown_report(_cube(), margin=MARGIN, neighbours=[neighbour])
    assert report.contacts_mm[0] == pytest.approx(0.07, abs=1e-6)


def _stump(room: float, contact: float = 0.05) -> tuple[Mesh, Mesh]:
    """A preparation (closed box 1 mm inside the crown but for its top) leaving
    ``room`` mm to an antagonist that the cube crown touches at ``contact`` mm."""
    antagonist = _box((-6.0, -6.0, HALF + contact), (6.0, 6.0, HALF + 5.0))
    preparation = _box((-4.0, -4.0, -4.0), (4.0, 4.0, HALF + contact - room))
    return preparation, antagonist


@pytest.mark.parametrize(("room", "codes"), [(0.6, ["clearance_low", "wall_thin"]), (1.5, [])])
def test_the_clearance_is_the_room_between_the_preparation_and_the_antagonist(
    room: float, codes: list[str]
) -> None:
    # The crown is in light occlusal contact (0.05 mm) either way: only the preparation's
    # reduction decides the clearance. With 0.6 mm of room no 0.8 mm wall fits either.
    preparation, antagonist = _stump(room)
    report = crown_report(_cube(), margin=MARGIN, antagonist=antagonist, preparation=preparation)
    assert report.occlusal_contact_mm == pytest.approx(0.05, abs=1e-6)
    assert report.occlusal_clearance_mm == pytest.approx(room, abs=1e-6)
    assert report.warning_codes == codes
    if codes:
        assert report.warnings[0].limit == DEFAULT_CLEARANCE_MM["zirconia"]
        assert report.warnings[0].value == pytest.approx(0.6, abs=1e-6)
        assert "preparation leaves too little occlusal room" in report.warnings[0].message


@pytest.mark.parametrize(("material", "warns"), [("zirconia", True), ("gold", False)])
def test_the_clearance_limit_depends_on_the_material(material: str, warns: bool) -> None:
    preparation, antagonist = _stump(0.9)
    limits = ReportLimits(wall_min_mm=0.5)
    report = crown_report(
        _cube(),
        margin=MARGIN,
        antagonist=antagonist,
        preparation=preparation,
        material=material,
        limits=limits,
    )
    assert report.occlusal_clearance_mm == pytest.approx(0.9, abs=1e-6)
    assert report.warning_codes == (["clearance_low"] if warns else [])


def test_an_open_preparation_is_measured_too_and_a_pontic_has_no_clearance() -> None:
    preparation, antagonist = _stump(1.2)
    corners = preparation.vertices[preparation.faces]
    open_stump = Mesh.of(
        preparation.vertices,
        preparation.faces[~np.all(np.isclose(corners[:, :, 2], -4.0), axis=1)],
    )
    report = crown_report(_cube(), margin=MARGIN, antagonist=antagonist, preparation=open_stump)
    assert report.occlusal_clearance_mm == pytest.approx(1.2, abs=1e-6)
    pontic = crown_report(_cube(), margin=MARGIN, antagonist=antagonist)
    assert pontic.occlusal_clearance_mm is None
    assert pontic.occlusal_contact_mm == pytest.approx(0.05, abs=1e-6)
    assert pontic.warnings == []


@pytest.mark.parametrize(
    ("offset", "code", "limit"),
    [(0.5, "occlusion_open", 0.2), (-0.2, "occlusion_heavy", 0.0)],
)
def test_a_crown_out_of_occlusion_or_pressing_into_the_antagonist_warns(
    offset: float, code: str, limit: float
) -> None:
    # 0.5 mm short of the antagonist, or its top 0.2 mm inside it.
    antagonist = _box((-6.0, -6.0, HALF + offset), (6.0, 6.0, HALF + 5.0))
    report = crown_report(_cube(), margin=MARGIN, antagonist=antagonist)
    assert report.occlusal_contact_mm == pytest.approx(offset, abs=1e-6)
    assert report.warning_codes == [code]
    assert report.warnings[0].limit == limit
    assert report.warnings[0].value == pytest.approx(offset, abs=1e-6)


def test_the_occlusal_contact_range_is_configurable() -> None:
    antagonist = _box((-6.0, -6.0, HALF + 0.5), (6.0, 6.0, HALF + 5.0))
    loose = ReportLimits(occlusal_contact_max_mm=0.6)
    assert crown_report(_cube(), margin=MARGIN, antagonist=antagonist, limits=loose).warnings == []
    touching = _box((-6.0, -6.0, HALF), (6.0, 6.0, HALF + 5.0))
    strict = ReportLimits(occlusal_contact_min_mm=0.02)
    report = crown_report(_cube(), margin=MARGIN, antagonist=touching, limits=strict)
    assert report.warning_codes == ["occlusion_heavy"]


def test_a_far_antagonist_beyond_the_crop_is_still_measured() -> None:
    antagonist = _box((-6.0, -6.0, HALF + 12.0), (6.0, 6.0, HALF + 15.0))
    report = crown_report(_cube(), margin=MARGIN, antagonist=antagonist)
    assert report.occlusal_contact_mm == pytest.approx(12.0, abs=1e-6)
    assert report.warning_codes == ["occlusion_open"]


@pytest.mark.parametrize(("wall", "codes"), [(0.5, ["wall_thin"]), (1.0, [])])
def test_wall_thickness_over_a_preparation_inside_a_solid_crown(
    wall: float, codes: list[str]
) -> None:
    preparation = _cube(half=HALF - wall)
    report = crown_report(_cube(), margin=MARGIN, preparation=preparation)
    assert report.min_wall_thickness_mm == pytest.approx(wall, abs=1e-6)
    assert report.warning_codes == codes


def test_wall_thickness_ignores_the_intaglio_resting_on_the_preparation() -> None:
    # Outer surface 1.0 mm from the preparation, intaglio 0.05 mm from it (the cement gap).
    crown = _shelled(_cube(), _cube(half=4.05))
    report = crown_report(crown, margin=MARGIN, preparation=_cube(half=4.0))
    assert report.watertight
    assert report.volume_mm3 == pytest.approx(1000.0 - 8.1**3, rel=1e-9)
    assert report.min_wall_thickness_mm == pytest.approx(1.0, abs=1e-6)
    assert report.warnings == []


def test_an_intaglio_dipping_into_the_preparation_is_not_measured_as_wall() -> None:
    # The intaglio lies 0.02 mm inside the preparation (a cement gap gone wrong): still the
    # inner surface, so the wall is the outer surface's 1.0 mm.
    crown = _shelled(_cube(), _cube(half=3.98))
    report = crown_report(crown, margin=MARGIN, preparation=_cube(half=4.0))
    assert report.min_wall_thickness_mm == pytest.approx(1.0, abs=1e-6)
    assert report.warnings == []


@pytest.mark.parametrize("flip", [False, True])
def test_an_open_preparation_is_oriented_from_the_margin_whatever_its_winding(
    flip: bool,
) -> None:
    # The preparation as a scan gives it: the stump without its bottom (open at the margin),
    # wound either way; the intaglio 0.05 mm off it, the outer surface 1 mm.
    stump = _cube(half=4.0)
    corners = stump.vertices[stump.faces]
    faces = stump.faces[~np.all(np.isclose(corners[:, :, 2], -4.0), axis=1)]
    preparation = Mesh.of(stump.vertices, faces[:, ::-1] if flip else faces)
    crown = _shelled(_cube(), _cube(half=4.05))
    report = crown_report(crown, margin=MARGIN, preparation=preparation)
    assert report.min_wall_thickness_mm == pytest.approx(1.0, abs=1e-6)
    thin = crown_report(_cube(half=4.5), margin=MARGIN, preparation=preparation)
    assert thin.min_wall_thickness_mm == pytest.approx(0.5, abs=1e-6)
    assert thin.warning_codes == ["wall_thin"]


def test_the_margin_neighbourhood_is_not_measured_as_wall() -> None:
    # The preparation has a 1 mm wall everywhere but for a small shoulder block 0.05 mm
    # inside the crown's bottom corner, right at the margin (the crown's bottom edge).
    core = _cube(half=4.0)
    shoulder = _box((4.8, 4.8, -4.95), (4.95, 4.95, -4.8))
    preparation = Mesh.of(
        np.concatenate([core.vertices, shoulder.vertices]),
        np.concatenate([core.faces, shoulder.faces + core.vertex_count]),
    )
    report = crown_report(_cube(), margin=MARGIN, preparation=preparation)
    # Measured only 1 mm or more from the margin: the shoulder is at least 0.8 mm away.
    assert report.min_wall_thickness_mm is not None
    assert 0.75 < report.min_wall_thickness_mm <= 1.0
    assert report.warnings == []
    limits = ReportLimits(wall_margin_exclusion_mm=0.0)
    strict = crown_report(_cube(), margin=MARGIN, preparation=preparation, limits=limits)
    assert strict.min_wall_thickness_mm == pytest.approx(0.05, abs=1e-6)
    assert strict.warning_codes == ["wall_thin"]


def test_margin_length_of_a_circle_is_two_pi_r() -> None:
    assert margin_length(_circle(4.5)) == pytest.approx(2 * math.pi * 4.5, rel=1e-4)
    assert margin_length(MARGIN) == pytest.approx(40.0)
    report = crown_report(_cube(), margin=_circle(4.5))
    assert report.margin_length_mm == pytest.approx(2 * math.pi * 4.5, rel=1e-4)


def test_configurable_limits_change_the_verdict() -> None:
    neighbour = _box((HALF + 0.5, -4.0, -4.0), (HALF + 8.0, 4.0, 4.0))
    antagonist = _box((-6.0, -6.0, HALF + 0.3), (6.0, 6.0, HALF + 5.0))
    preparation = _cube(half=HALF - 0.5)
    inputs = {"neighbours": [neighbour], "antagonist": antagonist, "preparation": preparation}
    default = crown_report(_cube(), margin=MARGIN, **inputs)  # type: ignore[arg-type]
    # The documented order: not_watertight, contacts, occlusion, clearance, wall.
    assert default.warning_codes == ["contact_open", "occlusion_open", "clearance_low", "wall_thin"]
    assert default.occlusal_clearance_mm == pytest.approx(0.8, abs=1e-6)
    lenient = ReportLimits(
        contact_max_mm=1.0,
        occlusal_contact_max_mm=0.5,
        clearance_mm={"zirconia": 0.5},
        wall_min_mm=0.4,
    )
    relaxed = crown_report(_cube(), margin=MARGIN, limits=lenient, **inputs)  # type: ignore[arg-type]
    assert relaxed.warnings == []


def test_json_has_sorted_stable_keys_rounded_floats_and_round_trips() -> None:
    neighbour = _box((HALF + 0.123456, -4.0, -4.0), (HALF + 8.0, 4.0, 4.0))
    report = crown_report(_cube(), margin=_circle(4.5), neighbours=[neighbour])
    text = report.to_json()
    data = json.loads(text)
    assert list(data) == sorted(data)
    assert sorted(data) == [
        "contacts_mm",
        "margin_length_mm",
        "material",
        "min_wall_thickness_mm",
        "occlusal_clearance_mm",
        "occlusal_contact_mm",
        "resolution_mm",
        "volume_mm3",
        "warnings",
        "watertight",
    ]
    assert data["contacts_mm"] == [0.123]
    assert (
        data["margin_length_mm"] == round(2 * math.pi * 4.5, 3)
        or abs(data["margin_length_mm"] - 2 * math.pi * 4.5) < 2e-3
    )
    assert data["warnings"] == [
        {
            "code": "contact_open",
            "limit": 0.1,
            "message": data["warnings"][0]["message"],
            "neighbour": 0,
            "value": 0.123,
        }
    ]
    assert data["occlusal_contact_mm"] is None
    again = CrownReport.from_json(text)
    assert again.to_json() == text
    assert again.warnings[0].code is WarningCode.ContactOpen


def test_a_report_stored_before_the_occlusal_contact_reads_back_without_it() -> None:
    antagonist = _box((-6.0, -6.0, HALF + 0.1), (6.0, 6.0, HALF + 5.0))
    current = crown_report(_cube(), margin=MARGIN, antagonist=antagonist).to_dict()
    assert current["occlusal_contact_mm"] == 0.1
    stored = {key: value for key, value in current.items() if key != "occlusal_contact_mm"}
    stored["occlusal_clearance_mm"] = 1.4  # then measured from the crown
    old = CrownReport.from_dict(stored)
    assert old.occlusal_contact_mm is None
    assert old.occlusal_clearance_mm == 1.4
    assert old.to_dict() == {**stored, "occlusal_contact_mm": None}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"material": "unobtainium"}, "unknown crown material"),
        ({"margin": np.zeros((1, 3))}, "polyline"),
        ({"margin": np.full((4, 3), np.nan)}, "non-finite"),
        ({"neighbours": [_cube()] * 3}, "at most two"),
        ({"resolution_mm": 0.0}, "positive"),
    ],
)
def test_bad_inputs_are_refused_clearly(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"margin": MARGIN, **kwargs}
    with pytest.raises(ValueError, match=message):
        crown_report(_cube(), **arguments)  # type: ignore[arg-type]


def test_material_names_are_case_insensitive() -> None:
    report = crown_report(_cube(), margin=MARGIN, material=" Lithium_Disilicate ")
    assert report.material == "lithium_disilicate"
