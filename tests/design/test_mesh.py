"""Mesh I/O (STL binary and ASCII, PLY ASCII and binary, OBJ) and repair."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import trimesh

from cuspid.design.mesh import (
    Mesh,
    UnreadableMesh,
    detect_format,
    ply_bytes,
    read_mesh,
    stl_bytes,
    stl_vertex_order,
    write_ply,
    write_stl,
)
from cuspid.design.repair import HOLE_EDGES, boundary_loops, repair, spread_to_input

# A square pyramid: 5 vertices, 6 triangles, closed.
PYRAMID = Mesh.of(
    np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0.5, 0.5, 1.0]]),
    np.array([[0, 2, 1], [0, 3, 2], [0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]]),
)


def _shuffled(mesh: Mesh, seed: int = 0) -> Mesh:
    """The same surface with its vertices in a random order (so order tests mean something)."""
    order = np.random.default_rng(seed).permutation(mesh.vertex_count)
    inverse = np.argsort(order)
    return Mesh.of(mesh.vertices[order], inverse[mesh.faces])


def _ascii_stl(mesh: Mesh) -> bytes:
    lines = ["solid test"]
    for face in mesh.faces:
        lines += ["  facet normal 0 0 0", "    outer loop"]
        lines += [f"      vertex {x!r} {y!r} {z!r}" for x, y, z in mesh.vertices[face].tolist()]
        lines += ["    endloop", "  endfacet"]
    lines.append("endsolid test")
    return "\n".join(lines).encode()


def test_mesh_converts_dtypes_and_checks_shapes() -> None:
    mesh = Mesh.of(np.zeros((3, 3), dtype=np.float32), np.array([[0, 1, 2]], dtype=np.int32))
    assert mesh.vertices.dtype == np.float64
    assert mesh.faces.dtype == np.int64
    assert (mesh.vertex_count, mesh.face_count) == (3, 1)
    with pytest.raises(ValueError, match="vertices"):
        Mesh.of(np.zeros((3, 2)), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="faces"):
        Mesh.of(np.zeros((3, 3)), np.zeros((1, 4)))


def test_binary_stl_round_trip_merges_corners_in_order_of_first_appearance(
    tmp_path: Path,
) -> None:
    mesh = _shuffled(PYRAMID)
    path = tmp_path / "scan.bin"  # no extension hint: detection is by content
    write_stl(mesh, path)
    assert detect_format(path.read_bytes()) == "stl-binary"
    read = read_mesh(path)
    corners = mesh.vertices[mesh.faces].reshape(-1, 3)
    expected: list[tuple[float, ...]] = []
    for corner in map(tuple, corners):
        if corner not in expected:
            expected.append(corner)
    np.testing.assert_array_equal(read.vertices, np.array(expected))
    np.testing.assert_array_equal(read.vertices[read.faces], mesh.vertices[mesh.faces])


def test_stl_vertex_order_treats_negative_zero_as_zero() -> None:
    corners = np.array([[[0.0, 0, 0], [1, 0, 0], [0, 1, 0]], [[-0.0, 0, 0], [0, 1, 0], [1, 1, 0]]])
    vertices, faces = stl_vertex_order(corners)
    assert len(vertices) == 4
    np.testing.assert_array_equal(faces, [[0, 1, 2], [0, 2, 3]])


def test_ascii_stl_is_read_by_content() -> None:
    data = _ascii_stl(PYRAMID)
    assert detect_format(data) == "stl-ascii"
    read = read_mesh(data)
    assert (read.vertex_count, read.face_count) == (5, 6)
    np.testing.assert_allclose(read.vertices[read.faces], PYRAMID.vertices[PYRAMID.faces])


def test_binary_stl_whose_header_starts_with_solid_is_still_binary() -> None:
    data = b"solid but binary".ljust(80) + stl_bytes(PYRAMID)[80:]
    assert detect_format(data) == "stl-binary"
    assert read_mesh(data).face_count == 6


@pytest.mark.parametrize("writer", ["binary", "ascii"])
def test_ply_keeps_the_vertex_order(tmp_path: Path, writer: str) -> None:
    mesh = _shuffled(PYRAMID, seed=3)
    path = tmp_path / "scan.dat"
    if writer == "binary":
        write_ply(mesh, path)
    else:
        trimesh.Trimesh(mesh.vertices, mesh.faces, process=False).export(
            path, file_type="ply", encoding="ascii"
        )
        assert b"format ascii" in path.read_bytes()[:200]
    read = read_mesh(path)
    np.testing.assert_allclose(read.vertices, mesh.vertices)
    np.testing.assert_array_equal(read.faces, mesh.faces)


def test_ply_keeps_unused_vertices_and_fans_quads() -> None:
    data = (
        b"ply\nformat ascii 1.0\nelement vertex 5\nproperty float x\nproperty float y\n"
        b"property float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n"
        b"9 9 9\n0 0 0\n1 0 0\n1 1 0\n0 1 0\n4 1 2 3 4\n"
    )
    read = read_mesh(data)
    assert read.vertex_count == 5
    np.testing.assert_array_equal(read.vertices[0], [9, 9, 9])
    assert read.face_count == 2
    assert set(read.faces.reshape(-1).tolist()) == {1, 2, 3, 4}


def test_ply_bytes_round_trip_is_exact() -> None:
    vertices = np.random.default_rng(1).normal(size=(40, 3))
    faces = np.random.default_rng(2).integers(0, 40, size=(60, 3))
    read = read_mesh(ply_bytes(Mesh(vertices, faces)))
    np.testing.assert_array_equal(read.vertices, vertices)
    np.testing.assert_array_equal(read.faces, faces)


OBJ = b"""# a quad and a triangle, with texture and normal indices
mtllib scan.mtl
o scan
v 0 0 0
v 1 0 0
v 1 1 0
v 0 1 0
v 0.5 0.5 1 0.2 0.3 0.4
vt 0 0
vt 1 0
vt 1 1
vn 0 0 1
g part
usemtl gum
s off
f 1/1/1 2/2/1 3/3/1 4/1/1
f 1//1 2//1 5//1
f -3 -2 -1
"""


def test_obj_keeps_the_vertex_order_and_fans_polygons() -> None:
    assert detect_format(OBJ) == "obj"
    read = read_mesh(OBJ)
    np.testing.assert_array_equal(
        read.vertices, [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0.5, 0.5, 1]]
    )
    np.testing.assert_array_equal(read.faces, [[0, 1, 2], [0, 2, 3], [0, 1, 4], [2, 3, 4]])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (stl_bytes(PYRAMID)[:-10], "truncated"),
        (_ascii_stl(PYRAMID).replace(b"endloop", b"", 1).rsplit(b"vertex", 1)[0], "truncated"),
        (b"hello, this is not a mesh at all\n" * 5, "unknown mesh format"),
        (b"\x89PNG\r\n\x1a\n" + bytes(200), "unknown mesh format"),
        (b"v 0 0 0\nv 1 0 0\nv 0 1 0\n", "no faces"),
        (b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n", "out of range"),
        (b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 -4\n", "out of range"),
        (b"v 0 0 nan\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "non-finite"),
        (b"v 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "three coordinates"),
        (b"v 0 0 zero\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "malformed"),
        (b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 x 3\n", "malformed face index"),
        (b"v 0 0 0\nv 1 0 0\nf 1 2\n", "at least three"),
        (ply_bytes(PYRAMID)[:-7], "PLY cannot be read"),
        (
            ply_bytes(
                Mesh.of(np.array([[0, 0, np.inf], [1, 0, 0], [0, 1, 0]]), np.array([[0, 1, 2]]))
            ),
            "non-finite",
        ),
        (ply_bytes(Mesh.of(np.eye(3), np.array([[0, 1, 5]]))), "out of range"),
        (stl_bytes(Mesh.of(np.zeros((0, 3)), np.zeros((0, 3)))), "no vertices"),
    ],
)
def test_unreadable_inputs_raise_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(UnreadableMesh, match=message):
        read_mesh(data)


def test_errors_name_the_input_and_are_value_errors(tmp_path: Path) -> None:
    path = tmp_path / "empty.stl"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"^upload\.stl: the file is empty"):
        read_mesh(path, name="upload.stl")


def test_truncated_binary_stl_message_gives_the_sizes() -> None:
    data = stl_bytes(PYRAMID)
    with pytest.raises(UnreadableMesh, match=f"{len(data) - 50} bytes"):
        read_mesh(data[:-50])
    assert struct.unpack_from("<I", data, 80)[0] == 6


# --- repair -----------------------------------------------------------------------------


def _sphere() -> Mesh:
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=5.0)
    return Mesh.of(np.asarray(sphere.vertices), np.asarray(sphere.faces))


def _is_watertight(mesh: Mesh) -> bool:
    return bool(trimesh.Trimesh(mesh.vertices, mesh.faces, process=False).is_watertight)


def test_repair_merges_duplicates_and_keeps_the_input_order() -> None:
    sphere = _sphere()
    # Every face gets its own copy of its corners (as STL does), nudged below the tolerance.
    corners = sphere.vertices[sphere.faces].reshape(-1, 3)
    corners += np.random.default_rng(0).uniform(-2e-7, 2e-7, size=corners.shape)
    soup = Mesh.of(corners, np.arange(len(corners)).reshape(-1, 3))
    repaired, origin = repair(soup)
    assert repaired.vertex_count == sphere.vertex_count
    assert np.all(np.diff(origin) > 0)
    np.testing.assert_array_equal(repaired.vertices, soup.vertices[origin])
    assert _is_watertight(repaired)


def test_repair_drops_degenerate_and_duplicate_faces() -> None:
    sphere = _sphere()
    extra = np.array([[0, 0, 1], sphere.faces[5], sphere.faces[5][::-1]])
    mesh = Mesh.of(sphere.vertices, np.concatenate([sphere.faces, extra]))
    repaired, origin = repair(mesh)
    assert repaired.face_count == sphere.face_count
    np.testing.assert_array_equal(origin, np.arange(sphere.vertex_count))


def test_repair_removes_a_speck_and_keeps_the_largest_component() -> None:
    sphere = _sphere()
    speck = PYRAMID.vertices + 20.0
    mesh = Mesh(
        np.concatenate([speck, sphere.vertices]),
        np.concatenate([PYRAMID.faces, sphere.faces + 5]),
    )
    repaired, origin = repair(mesh)
    assert repaired.face_count == sphere.face_count
    np.testing.assert_array_equal(origin, np.arange(5, 5 + sphere.vertex_count))


def test_repair_fills_a_small_hole_and_leaves_a_large_one() -> None:
    sphere = _sphere()
    # Punch out the star of one vertex: a hole of 5 or 6 edges.
    star = np.flatnonzero((sphere.faces == 7).any(axis=1))
    small = Mesh.of(sphere.vertices, np.delete(sphere.faces, star, axis=0))
    assert not _is_watertight(small)
    assert [len(loop) for loop in boundary_loops(small.faces)] == [len(star)]
    repaired, origin = repair(small)
    assert _is_watertight(repaired)
    assert len(origin) == sphere.vertex_count - 1  # vertex 7 is left unused and dropped
    # A cut far longer than HOLE_EDGES (the open base of a scan) stays open.
    fine = trimesh.creation.icosphere(subdivisions=3, radius=5.0)
    above = fine.triangles_center[:, 2] > -1.0
    cut = Mesh.of(np.asarray(fine.vertices), np.asarray(fine.faces)[above])
    assert min(len(loop) for loop in boundary_loops(cut.faces)) > HOLE_EDGES
    repaired_cut, _ = repair(cut)
    assert not _is_watertight(repaired_cut)


def test_spread_to_input_maps_labels_back_to_every_input_vertex() -> None:
    sphere = _sphere()
    mesh = Mesh(
        np.concatenate([sphere.vertices, sphere.vertices[:1] + 1e-8]),
        np.concatenate([sphere.faces, [[sphere.vertex_count, 1, 2]]]),
    )
    repaired, origin = repair(mesh)
    assert len(origin) == sphere.vertex_count
    values = np.arange(repaired.vertex_count, dtype=np.int64)
    back = spread_to_input(mesh, origin, values)
    assert back[-1] == back[0] == 0
    np.testing.assert_array_equal(back[origin], values)


def test_repair_refuses_a_mesh_of_only_degenerate_faces() -> None:
    with pytest.raises(ValueError, match="nothing is left"):
        repair(Mesh.of(np.array([[0.0, 0, 0], [1, 0, 0], [2, 0, 0]]), np.array([[0, 1, 2]])))


def test_a_large_obj_is_detected_even_when_64_kb_cut_a_line() -> None:
    rows = [f"v {k}.123456789 0.5 {k % 7}" for k in range(4000)]
    faces = [f"f {k + 1} {k + 2} {k + 3}" for k in range(3998)]
    data = ("\n".join(["# big", "usemtl gum", *rows, *faces]) + "\n").encode()
    assert len(data) > 65536
    assert detect_format(data) == "obj"
    read = read_mesh(data)
    assert (read.vertex_count, read.face_count) == (4000, 3998)
