"""The engine glue of AI suggestions: labels in the browser loader's vertex order, whatever the
scan's format."""

from __future__ import annotations

import numpy as np
import pytest

from cuspid.cases.distance import mesh_load
from cuspid.cases.suggest import ERROR_UNREADABLE, SuggestionFailed, loader_labels
from cuspid.design.mesh import ply_bytes, read_mesh, stl_bytes
from cuspid.design.synth import synth_arch


def test_a_ply_keeps_its_vertex_order() -> None:
    arch = synth_arch(5, target_vertices=4_000)
    data = ply_bytes(arch.mesh)
    out = loader_labels(read_mesh(data), arch.labels, data, "ply")
    assert np.array_equal(np.frombuffer(out, dtype=np.uint8), arch.labels)


def test_an_stl_gets_one_label_per_corner_of_its_facets_in_file_order() -> None:
    arch = synth_arch(5, target_vertices=4_000)
    data = stl_bytes(arch.mesh)
    engine = read_mesh(data)
    # What the engine would label: its merged vertices, here taken from the ground truth.
    engine_labels = arch.labels[_same_points(engine.vertices, arch.mesh.vertices)]
    out = np.frombuffer(loader_labels(engine, engine_labels, data, "stl_binary"), dtype=np.uint8)
    assert len(out) == len(mesh_load(data, "stl_binary").vertices) == 3 * len(arch.mesh.faces)
    assert np.array_equal(out, arch.labels[arch.mesh.faces].reshape(-1))


def _same_points(points: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """For each point (float32-rounded), the index of the vertex it was written from."""
    rounded = vertices.astype(np.float32).astype(np.float64)
    order = {tuple(v): i for i, v in enumerate(rounded)}
    return np.array([order[tuple(p)] for p in points])


def test_a_file_the_loader_cannot_read_is_an_unreadable_scan() -> None:
    arch = synth_arch(5, target_vertices=4_000)
    with pytest.raises(SuggestionFailed) as failed:
        loader_labels(arch.mesh, arch.labels, b"not a mesh", "stl_binary")
    assert failed.value.code == ERROR_UNREADABLE
