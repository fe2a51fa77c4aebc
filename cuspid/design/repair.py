"""Repair what a real intraoral scan has: duplicate vertices, degenerate and duplicate faces,
disconnected specks and small holes.

``repair`` never invents vertices (holes are closed by fanning triangles between the hole's
own boundary vertices) and never moves them, so each repaired vertex is one input vertex:
the returned ``origin`` array maps repaired vertex k to input vertex ``origin[k]``, and is
increasing, so the repaired mesh keeps the input's vertex order. Labels computed on the
repaired mesh go back to the input with ``labels_in[origin] = labels_out``; input vertices
dropped by the repair (merged duplicates, specks, unreferenced points) can take the label of
their nearest kept vertex (``spread_to_input``).
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix  # type: ignore[import-untyped]  # scipy ships no type stubs
from scipy.sparse.csgraph import connected_components  # type: ignore[import-untyped]
from scipy.spatial import cKDTree  # type: ignore[import-untyped]  # scipy ships no type stubs

from cuspid.design.mesh import Mesh

MERGE_DISTANCE: Final = 1e-6
"""Vertices closer than this (mm) are one vertex."""
SPECK_SHARE: Final = 0.01
"""A component with fewer than this share of the faces is a speck (unless it is the largest)."""
SPECK_FACES: Final = 50
"""A component with fewer faces than this is a speck (unless it is the largest)."""
HOLE_EDGES: Final = 30
"""Boundary loops of at most this many edges are filled; longer ones (the scan's open base,
large gaps) are left open."""


def merge_duplicates(
    vertices: NDArray[np.float64], distance: float = MERGE_DISTANCE
) -> NDArray[np.int64]:
    """For each vertex, the index of the first vertex within ``distance`` of it (transitively).

    The result r satisfies r[i] <= i, and r[i] == i for the vertex that represents its group.
    """
    count = vertices.shape[0]
    pairs = cKDTree(vertices).query_pairs(distance, output_type="ndarray")
    if len(pairs) == 0:
        return np.arange(count, dtype=np.int64)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(count, count))
    _, component = connected_components(graph, directed=False)
    first = np.full(component.max() + 1, count, dtype=np.int64)
    np.minimum.at(first, component, np.arange(count, dtype=np.int64))
    return np.asarray(first[component], dtype=np.int64)


def _clean_faces(vertices: NDArray[np.float64], faces: NDArray[np.int64]) -> NDArray[np.int64]:
    """Drop faces with a repeated vertex, zero area, or the same vertices as an earlier one."""
    distinct = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2])
    distinct &= faces[:, 0] != faces[:, 2]
    faces = faces[distinct]
    corners = vertices[faces]
    cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    faces = faces[np.linalg.norm(cross, axis=1) > 1e-12]
    _, first = np.unique(np.sort(faces, axis=1), axis=0, return_index=True)
    return faces[np.sort(first)]


def face_components(faces: NDArray[np.int64], vertex_count: int) -> NDArray[np.int64]:
    """The connected component (through shared vertices) of each face, numbered from 0."""
    if len(faces) == 0:
        return np.zeros(0, dtype=np.int64)
    rows = np.concatenate([faces[:, 0], faces[:, 1]])
    cols = np.concatenate([faces[:, 1], faces[:, 2]])
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(vertex_count, vertex_count))
    _, component = connected_components(graph, directed=False)
    return np.asarray(component[faces[:, 0]], dtype=np.int64)


def _drop_specks(faces: NDArray[np.int64], vertex_count: int) -> NDArray[np.int64]:
    component = face_components(faces, vertex_count)
    if len(component) == 0:
        return faces
    sizes = np.bincount(component)
    keep = (sizes >= SPECK_SHARE * len(faces)) & (sizes >= SPECK_FACES)
    keep[int(np.argmax(sizes))] = True
    return faces[keep[component]]


def boundary_loops(faces: NDArray[np.int64]) -> list[list[int]]:
    """The closed loops of boundary half-edges (edges used by one face), each in the order of
    its half-edges (a -> b where a face has the edge a -> b and none has b -> a).

    Loops through a vertex with more than one outgoing boundary edge (non-manifold) are left
    out: they are not safe to fill.
    """
    half = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    undirected = np.sort(half, axis=1)
    keys = undirected[:, 0] * (int(faces.max()) + 1) + undirected[:, 1]
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    border = half[counts[inverse] == 1]
    starts, outgoing = np.unique(border[:, 0], return_counts=True)
    bad = set(starts[outgoing > 1].tolist())
    following = {int(a): int(b) for a, b in border if int(a) not in bad}
    loops: list[list[int]] = []
    seen: set[int] = set()
    for start in following:
        if start in seen:
            continue
        loop = [start]
        seen.add(start)
        current = following.get(start)
        while current is not None and current != start and current not in seen:
            loop.append(current)
            seen.add(current)
            current = following.get(current)
        if current == start:
            loops.append(loop)
    return loops


def _fill_holes(faces: NDArray[np.int64], max_edges: int) -> NDArray[np.int64]:
    patches = [
        [(loop[0], loop[k + 1], loop[k]) for k in range(1, len(loop) - 1)]
        for loop in boundary_loops(faces)
        if 3 <= len(loop) <= max_edges
    ]
    added = [triangle for patch in patches for triangle in patch]
    if not added:
        return faces
    return np.concatenate([faces, np.array(added, dtype=np.int64)])


def repair(mesh: Mesh, *, max_hole_edges: int = HOLE_EDGES) -> tuple[Mesh, NDArray[np.int64]]:
    """Repair a scan: merge vertices within MERGE_DISTANCE, drop degenerate and duplicate
    faces, drop disconnected specks (components under SPECK_SHARE of the faces or under
    SPECK_FACES faces; the largest is always kept), and fill boundary loops of at most
    ``max_hole_edges`` edges by fanning triangles from one of their vertices.

    Returns (repaired mesh, origin): repaired vertex k is input vertex origin[k] (origin is
    increasing); vertices are never moved or invented. Unreferenced vertices are dropped. The
    input must be a checked Mesh; raises ValueError if nothing is left (every face degenerate).
    """
    vertices = mesh.vertices
    representative = merge_duplicates(vertices)
    faces = _clean_faces(vertices, representative[mesh.faces])
    faces = _drop_specks(faces, mesh.vertex_count)
    if len(faces) == 0:
        raise ValueError("nothing is left of the mesh after removing degenerate faces")
    faces = _fill_holes(faces, max_hole_edges)
    used = np.zeros(mesh.vertex_count, dtype=bool)
    used[faces.reshape(-1)] = True
    origin = np.flatnonzero(used).astype(np.int64)
    new_index = np.full(mesh.vertex_count, -1, dtype=np.int64)
    new_index[origin] = np.arange(len(origin))
    return Mesh(vertices[origin], new_index[faces]), origin


def spread_to_input(
    mesh: Mesh, origin: NDArray[np.int64], values: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Map per-vertex values of a repaired mesh back to every vertex of the input ``mesh``:
    kept vertices get their own value, dropped ones the value of the nearest kept vertex."""
    result = np.empty(mesh.vertex_count, dtype=np.int64)
    result[origin] = values
    dropped = np.setdiff1d(np.arange(mesh.vertex_count), origin)
    if len(dropped):
        _, nearest = cKDTree(mesh.vertices[origin]).query(mesh.vertices[dropped])
        result[dropped] = values[nearest]
    return result
