"""The distance map (``cuspid.cases.distance``) against analytic cases and an exhaustive search.

Pure numpy: no database. Meshes are built here or by ``tests.factories.compare``; the
expected distances come from geometry (spheres, planes, cubes) or from measuring every
point against every triangle.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
from numpy.typing import NDArray

from cuspid.cases import distance
from cuspid.cases.distance import (
    CORNER_A,
    CORNER_B,
    CORNER_C,
    EDGE_AB,
    EDGE_BC,
    EDGE_CA,
    FACE,
    MeshUnreadable,
    Surface,
    closest_points,
    distance_stats,
    distances_bytes,
    mesh_distances,
    mesh_load,
    unique_rows,
    vertex_distances,
)
from cuspid.web.demo_scans import arch_mesh, arch_stl, binary_stl
from tests.factories.compare import icosphere, sphere_stl

Floats = NDArray[np.float64]


def _exhaustive(points: Floats, triangles: Floats) -> Floats:
    """Unsigned distance from each point to the nearest of all triangles, the slow way."""
    result = np.empty(len(points))
    for i, point in enumerate(points):
        repeated = np.repeat(point[None, :], len(triangles), axis=0)
        closest, _feature = closest_points(
            repeated, triangles[:, 0], triangles[:, 1], triangles[:, 2]
        )
        result[i] = np.sqrt(((closest - point) ** 2).sum(axis=1)).min()
    return result


def _grid(size: int, spacing: float, z: float = 0.0) -> tuple[Floats, NDArray[np.int64]]:
    """A flat square of (size - 1)^2 * 2 triangles in the plane z, normals towards +z."""
    xs, ys = np.meshgrid(np.arange(size) * spacing, np.arange(size) * spacing, indexing="ij")
    vertices = np.stack([xs.ravel(), ys.ravel(), np.full(size * size, z)], axis=1)
    faces = []
    for i in range(size - 1):
        for j in range(size - 1):
            a, b, c, d = i * size + j, (i + 1) * size + j, (i + 1) * size + j + 1, i * size + j + 1
            faces += [(a, b, c), (a, c, d)]
    return vertices, np.asarray(faces, dtype=np.int64)


def _cube(half: float = 1.0) -> Floats:
    """The 12 triangles of an axis-aligned cube around the origin, wound outwards."""
    corners = np.array(
        [[x, y, z] for x in (-half, half) for y in (-half, half) for z in (-half, half)]
    )
    faces = np.array(
        [
            [0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5],  # x = -h, x = +h
            [0, 4, 5], [0, 5, 1], [2, 3, 7], [2, 7, 6],  # y = -h, y = +h
            [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3],  # z = -h, z = +h
        ]
    )  # fmt: skip
    triangles: Floats = corners[faces].astype(np.float64)
    return triangles


# --- analytic cases --------------------------------------------------------------------------


def test_a_mesh_against_itself_is_zero_everywhere() -> None:
    mesh = mesh_load(arch_stl(3), "stl_binary")
    data, stats = mesh_distances(mesh, mesh)
    values = np.frombuffer(data, dtype="<f4")
    assert values.shape == (len(mesh.vertices),)
    assert np.abs(values).max() == 0.0
    assert (stats.min, stats.max, stats.mean_abs, stats.p95_abs) == (0.0, 0.0, 0.0, 0.0)


def test_a_sphere_outside_a_concentric_sphere_is_0_3_mm_away_everywhere() -> None:
    inner = mesh_load(sphere_stl(3, 10.0), "stl_binary")
    outer = mesh_load(sphere_stl(3, 10.3), "stl_binary")
    outside = vertex_distances(outer.vertices, inner.triangles)
    # The outer sphere's vertices sit radially over the inner one's: 0.3 mm (float32 files).
    np.testing.assert_allclose(outside, 0.3, atol=1e-5)
    # The inner vertices, against the outer polyhedron (its flat faces lie a little inside
    # the 10.3 mm sphere): inside it, between 0.29 and 0.3 mm deep.
    inside = vertex_distances(inner.vertices, outer.triangles)
    assert np.all(inside < 0)
    np.testing.assert_allclose(inside, -0.3, atol=0.002)


def test_a_plane_shifted_by_1_mm_is_1_mm_away_on_the_side_of_its_normals() -> None:
    vertices, faces = _grid(21, 0.5)
    plane = vertices[faces]
    up = np.array([0.0, 0.0, 1.0])
    above, below = vertices + up, vertices - up
    np.testing.assert_allclose(vertex_distances(above, plane), 1.0, atol=1e-12)
    np.testing.assert_allclose(vertex_distances(below, plane), -1.0, atol=1e-12)
    # Sideways past the border, the closest point is on the border: a true point-to-
    # triangle distance, not the distance to the nearest vertex.
    beside = np.array([[-1.0, 2.25, 0.0], [-3.0, 2.25, 4.0]])
    np.testing.assert_allclose(np.abs(vertex_distances(beside, plane)), [1.0, 5.0], atol=1e-12)


def test_the_sign_is_right_at_a_cubes_sharp_edges_and_corners() -> None:
    cube = _cube()
    rng = np.random.default_rng(8)
    points = rng.uniform(-1.6, 1.6, size=(4000, 3))
    # Points in the wedges round edges and corners, where a face normal alone misjudges.
    points = np.concatenate([points, [[1.3, 1.3, 1.3], [1.2, 1.2, 0.0], [-1.1, 0.0, -1.4]]])
    signed = vertex_distances(points, cube)
    inside = np.all(np.abs(points) < 1.0, axis=1)
    on_surface = np.isclose(np.abs(points).max(axis=1), 1.0)
    assert np.all(signed[inside & ~on_surface] < 0)
    assert np.all(signed[~inside & ~on_surface] > 0)
    np.testing.assert_allclose(np.abs(signed), _exhaustive(points, cube), atol=1e-12)


def test_unsigned_distances_are_the_magnitudes() -> None:
    sphere = mesh_load(sphere_stl(2, 10.0), "stl_binary")
    points = sphere.vertices * 0.9
    surface = Surface(sphere.triangles)
    np.testing.assert_allclose(
        surface.distances(points, signed=False), -surface.distances(points), atol=1e-12
    )


# --- against an exhaustive search ------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2])
def test_distances_match_an_exhaustive_search_near_and_far(seed: int) -> None:
    # A coarse arch: long, thin triangles and fanned end caps, the hard case for the search.
    vertices, faces = arch_mesh(seed, segments=64, rings=16)
    triangles = vertices.astype(np.float64)[faces]
    rng = np.random.default_rng(seed)
    low, high = vertices.min(axis=0) - 3.0, vertices.max(axis=0) + 3.0
    far = rng.uniform(low, high, size=(400, 3))
    near = vertices[rng.integers(0, len(vertices), 400)] + rng.normal(0, 0.3, size=(400, 3))
    points = np.concatenate([far, near])
    measured = np.abs(vertex_distances(points, triangles))
    exact = _exhaustive(points, triangles)
    # The search stops widening at MAX_CANDIDATES centroids: never too small, at most a
    # little too large (the module's documented bound), and nearly always exact.
    excess = measured - exact
    assert excess.min() > -1e-9
    assert excess.max() < 1e-3
    assert np.mean(excess < 1e-9) > 0.99


def test_a_few_huge_triangles_among_small_ones_are_searched_too() -> None:
    # A fine grid at z = 0 and one large triangle at z = 5 over it: several size groups.
    vertices, faces = _grid(30, 0.2)
    small = vertices[faces]
    huge = np.array([[[-20.0, -20.0, 5.0], [40.0, -20.0, 5.0], [0.0, 40.0, 5.0]]])
    triangles = np.concatenate([small, huge])
    surface = Surface(triangles)
    assert len(surface.groups) >= 2
    rng = np.random.default_rng(3)
    points = rng.uniform([-5.0, -5.0, -2.0], [10.0, 10.0, 8.0], size=(600, 3))
    np.testing.assert_allclose(
        np.abs(surface.distances(points)), _exhaustive(points, triangles), atol=1e-9
    )


def test_the_closest_point_names_the_feature_it_lies_on() -> None:
    a, b, c = np.array([0.0, 0, 0]), np.array([4.0, 0, 0]), np.array([0.0, 4, 0])
    cases = {
        FACE: ([1.0, 1.0, 2.0], [1.0, 1.0, 0.0]),
        CORNER_A: ([-1.0, -1.0, 0.0], a),
        CORNER_B: ([6.0, -1.0, 1.0], b),
        CORNER_C: ([-1.0, 6.0, 0.0], c),
        EDGE_AB: ([2.0, -3.0, 0.0], [2.0, 0.0, 0.0]),
        EDGE_CA: ([-3.0, 2.0, 0.0], [0.0, 2.0, 0.0]),
        EDGE_BC: ([3.0, 3.0, 0.0], [2.0, 2.0, 0.0]),
    }
    points = np.array([point for point, _closest in cases.values()])
    n = len(points)
    closest, feature = closest_points(
        points, np.tile(a, (n, 1)), np.tile(b, (n, 1)), np.tile(c, (n, 1))
    )
    assert feature.tolist() == list(cases)
    expected = np.array([closest for _point, closest in cases.values()], dtype=np.float64)
    np.testing.assert_allclose(closest, expected)


def test_degenerate_triangles_are_measured_as_segments_and_points() -> None:
    point_like = np.array([[[1.0, 1.0, 1.0]] * 3])
    segment_like = np.array([[[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [1.0, 0.0, 0.0]]])
    queries = np.array([[1.0, 1.0, 4.0], [1.0, 3.0, 0.0]])
    np.testing.assert_allclose(np.abs(vertex_distances(queries[:1], point_like)), [3.0], atol=1e-12)
    np.testing.assert_allclose(
        np.abs(vertex_distances(queries[1:], segment_like)), [3.0], atol=1e-12
    )


# --- reading meshes in the browser loaders' order -------------------------------------------


def test_a_binary_stl_keeps_three_corners_per_facet_in_file_order() -> None:
    # Facet 0 lies on the baseline plane, facet 1 two millimetres above it, facet 2 below.
    base_vertices, base_faces = _grid(11, 1.0)
    baseline = mesh_load(binary_stl(base_vertices, base_faces), "stl_binary")
    corners = np.array(
        [
            [2.0, 2, 0], [3.0, 2, 0], [3.0, 3, 0],
            [2.0, 2, 2], [3.0, 2, 2], [3.0, 3, 2],
            [5.0, 5, -0.5], [6.0, 5, -0.5], [6.0, 6, -0.5],
        ]
    )  # fmt: skip
    data = binary_stl(corners, np.arange(9).reshape(3, 3))
    mesh = mesh_load(data, "stl_binary")
    np.testing.assert_array_equal(mesh.vertices, corners)
    values = np.frombuffer(mesh_distances(mesh, baseline)[0], dtype="<f4")
    np.testing.assert_allclose(values, [0, 0, 0, 2, 2, 2, -0.5, -0.5, -0.5], atol=1e-6)


def test_an_ascii_stl_reads_like_the_binary_one() -> None:
    corners = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [0, 1, 1]])
    facets = "".join(
        "facet normal 0 0 1\nouter loop\n"
        + "".join(f"vertex {x} {y} {z}\n" for x, y, z in corners[i : i + 3])
        + "endloop\nendfacet\n"
        for i in (0, 3)
    )
    text = f"solid crown\n{facets}endsolid crown\n".encode()
    mesh = mesh_load(text, "stl_ascii")
    np.testing.assert_array_equal(mesh.vertices, corners)
    assert mesh.triangles.shape == (2, 3, 3)


def test_a_ply_keeps_its_vertex_element_in_file_order() -> None:
    text = (
        b"ply\nformat ascii 1.0\nelement vertex 5\nproperty float x\nproperty float y\n"
        b"property float z\nelement face 2\nproperty list uchar int vertex_indices\nend_header\n"
        b"3 0 0\n0 0 0\n0 3 0\n3 3 0\n9 9 9\n4 1 0 3 2\n3 4 1 0\n"
    )
    mesh = mesh_load(text, "ply")
    np.testing.assert_array_equal(
        mesh.vertices, [[3, 0, 0], [0, 0, 0], [0, 3, 0], [3, 3, 0], [9, 9, 9]]
    )
    # The quad is fanned from its first corner, like the triangle after it.
    assert mesh.triangles.shape == (3, 3, 3)


def test_an_obj_is_read_like_three_js_reads_it() -> None:
    text = (
        b"# a quad and a triangle\nmtllib nowhere.mtl\nv 0 0 0\nv 2 0 0\nv 2 2 0\nv 0 2 0\n"
        b"vt 0 0\nvn 0 0 1\no first\nf 1/1/1 2/1/1 3/1/1 4/1/1\no second\nv 5 5 5\nf -1 1 2\n"
    )
    mesh = mesh_load(text, "obj")
    # Non-indexed: the quad fanned as (1, 2, 3), (1, 3, 4), then the triangle.
    np.testing.assert_array_equal(
        mesh.vertices,
        [
            [0, 0, 0], [2, 0, 0], [2, 2, 0],
            [0, 0, 0], [2, 2, 0], [0, 2, 0],
            [5, 5, 5], [0, 0, 0], [2, 0, 0],
        ],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("data", "file_format", "code"),
    [
        (b"", "jpeg", "unsupported_format"),
        (b"\x00" * 83, "stl_binary", "unreadable"),
        (b"\x00" * 80 + np.uint32(2).tobytes() + b"\x00" * 50, "stl_binary", "unreadable"),
        (b"\x00" * 80 + np.uint32(0).tobytes(), "stl_binary", "no_triangles"),
        (b"solid x\nendsolid x\n", "stl_ascii", "unreadable"),
        (b"v 0 0 0\nv 1 0 0\nf 1 2 7\n", "obj", "bad_indices"),
        (b"v 0 0 0\nv 1 0 0\nv 0 nan 0\nf 1 2 3\n", "obj", "not_finite"),
        (b"v 0 0 0\nv 1 0 0\nv 0 1\n", "obj", "unreadable"),
        (b"v 0 0 0\n", "obj", "no_triangles"),
        (
            b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
            b"property float z\nelement face 1\nproperty list uchar int vertex_indices\n"
            b"end_header\n0 0 0\n1 0 0\n0 1 0\n3 0 1 5\n",
            "ply",
            "bad_indices",
        ),
        (
            b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\n"
            b"property float z\nend_header\n0 0 0\n",
            "ply",
            "no_triangles",
        ),
    ],
)
def test_a_mesh_that_cannot_be_compared_says_why(data: bytes, file_format: str, code: str) -> None:
    with pytest.raises(MeshUnreadable) as caught:
        mesh_load(data, file_format)
    assert caught.value.code == code


def test_a_mesh_over_the_triangle_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(distance, "MAX_TRIANGLES", 100)
    with pytest.raises(MeshUnreadable) as caught:
        mesh_load(sphere_stl(2, 10.0), "stl_binary")
    assert caught.value.code == "too_large"


def test_a_surface_needs_triangles() -> None:
    with pytest.raises(MeshUnreadable) as caught:
        Surface(np.zeros((0, 3, 3)))
    assert caught.value.code == "no_triangles"


# --- what is stored ---------------------------------------------------------------------------


def test_the_stored_form_is_little_endian_float32_in_order() -> None:
    values = np.array([-0.25, 0.0, 1.5, 3.0])
    data = distances_bytes(values)
    assert data == struct.pack("<4f", *values)
    assert np.frombuffer(data, dtype="<f4").tolist() == values.tolist()


def test_the_stats_summarise_the_signed_and_absolute_distances() -> None:
    values = np.concatenate([np.full(90, 0.1), np.full(9, -0.2), [1.0]])
    stats = distance_stats(values)
    assert stats.vertex_count == 100
    assert (stats.min, stats.max) == (-0.2, 1.0)
    assert stats.mean == pytest.approx((9.0 - 1.8 + 1.0) / 100)
    assert stats.mean_abs == pytest.approx((9.0 + 1.8 + 1.0) / 100)
    assert stats.p95_abs == pytest.approx(0.2)
    assert stats.max_abs == 1.0
    assert stats.as_json() == {
        "vertex_count": 100,
        "min": -0.2,
        "max": 1.0,
        "mean": 0.082,
        "mean_abs": 0.118,
        "p95_abs": 0.2,
        "max_abs": 1.0,
    }


def test_unique_rows_merges_equal_values_and_maps_every_row_back() -> None:
    rows = np.array([[0.0, 1.0, 2.0], [-0.0, 1.0, 2.0], [3.0, 1.0, 2.0], [0.0, 1.0, 2.0]])
    unique, inverse = unique_rows(rows)
    assert len(unique) == 2
    np.testing.assert_array_equal(unique[inverse], np.abs(rows))
    assert inverse[0] == inverse[1] == inverse[3] != inverse[2]


def test_the_icosphere_factory_is_a_closed_outward_sphere() -> None:
    vertices, faces = icosphere(2, 5.0)
    triangles = vertices[faces]
    volume = np.einsum(
        "ij,ij->i", triangles[:, 0], np.cross(triangles[:, 1], triangles[:, 2])
    ).sum()
    assert len(faces) == 320
    assert 0 < volume / 6 < 4 / 3 * np.pi * 125
    np.testing.assert_allclose(np.linalg.norm(vertices, axis=1), 5.0)
