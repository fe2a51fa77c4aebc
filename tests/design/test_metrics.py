"""The 3DTeethSeg'22 metrics on hand-made arches whose expected values are known exactly."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from numpy.typing import NDArray

from cuspid.design.labels import SegmentationResult
from cuspid.design.metrics import (
    MISSED_TOOTH_PENALTY,
    chamfer_distance,
    dice_per_tooth,
    sample_surface,
    score_segmentation,
    tsa,
)

# Four upper teeth on a line; each is four vertices at its centre +-x and +-y, so its
# centroid is the centre and its size (radius of gyration) is exactly 1 mm.
CENTRES = {12: (-15.0, 0.0, 0.0), 11: (-5.0, 0.0, 0.0), 21: (5.0, 0.0, 0.0), 22: (15.0, 0.0, 0.0)}
OFFSETS = np.array([[1.0, 0, 0], [-1.0, 0, 0], [0, 1.0, 0], [0, -1.0, 0]])
GINGIVA = np.array([[0.0, -20, 0], [10, -20, 0], [-10, -20, 0], [0, -25, 0]])


def _arch() -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
    vertices = [GINGIVA]
    labels = [0] * len(GINGIVA)
    instances = [0] * len(GINGIVA)
    for instance, (fdi, centre) in enumerate(CENTRES.items(), start=1):
        vertices.append(np.array(centre) + OFFSETS)
        labels += [fdi] * 4
        instances += [instance] * 4
    return np.vstack(vertices), np.array(labels), np.array(instances)


VERTICES, GT_LABELS, GT_INSTANCES = _arch()
GT = SegmentationResult("upper", GT_LABELS, GT_INSTANCES)


def _vertex_of(fdi: int, offset: int) -> int:
    """Index of the ``offset``-th vertex (0: +x, 1: -x, 2: +y, 3: -y) of tooth ``fdi``."""
    return int(np.flatnonzero(fdi == GT_LABELS)[offset])


def _pred(labels: NDArray[np.int64], instances: NDArray[np.int64]) -> SegmentationResult:
    return SegmentationResult("upper", labels, instances)


def test_perfect_prediction_scores_one_everywhere() -> None:
    result = score_segmentation(GT, GT, VERTICES)
    assert result.tsa == 1.0
    assert result.tla == 0.0
    assert result.exp_neg_tla == 1.0
    assert result.tir == 1.0
    assert result.score == 1.0
    assert result.dice == {11: 1.0, 12: 1.0, 21: 1.0, 22: 1.0}
    assert (result.gt_teeth, result.pred_teeth, result.missed_teeth) == (4, 4, 0)


def test_instance_ids_need_not_agree_with_the_ground_truth() -> None:
    renumbered = _pred(GT_LABELS, np.where(GT_INSTANCES > 0, 10 - GT_INSTANCES, 0))
    assert score_segmentation(GT, renumbered, VERTICES).score == 1.0


def test_all_gingiva_prediction() -> None:
    zeros = np.zeros_like(GT_LABELS)
    result = score_segmentation(GT, _pred(zeros, zeros), VERTICES)
    assert result.tsa == 0.0
    assert result.tir == 0.0
    assert result.tla == MISSED_TOOTH_PENALTY
    assert result.exp_neg_tla == pytest.approx(math.exp(-5.0))
    assert result.score == pytest.approx(math.exp(-5.0) / 3)
    assert result.dice == {11: 0.0, 12: 0.0, 21: 0.0, 22: 0.0}
    assert result.missed_teeth == 4


def test_left_right_swap_loses_identification_but_not_segmentation() -> None:
    swap = {11: 21, 21: 11, 12: 22, 22: 12, 0: 0}
    swapped = np.array([swap[int(v)] for v in GT_LABELS])
    result = score_segmentation(GT, _pred(swapped, GT_INSTANCES), VERTICES)
    assert result.tsa == 1.0
    assert result.tir == 0.0
    assert result.exp_neg_tla == 1.0
    assert result.score == pytest.approx(2 / 3)
    assert set(result.dice.values()) == {0.0}


def test_missed_tooth_costs_the_penalty() -> None:
    labels = np.where(GT_LABELS == 22, 0, GT_LABELS)
    instances = np.where(GT_LABELS == 22, 0, GT_INSTANCES)
    result = score_segmentation(GT, _pred(labels, instances), VERTICES)
    assert result.tla == pytest.approx(MISSED_TOOTH_PENALTY / 4)
    assert result.exp_neg_tla == pytest.approx(math.exp(-1.25))
    assert result.tir == 0.75
    assert result.tsa == pytest.approx(2 * 12 / (16 + 12))
    assert result.dice[22] == 0.0
    assert result.missed_teeth == 1


def test_shifted_centroid_is_normalised_by_tooth_size() -> None:
    # Tooth 11 loses its +x vertex: the predicted centroid moves by 1/3 mm = 1/3 tooth size.
    labels, instances = GT_LABELS.copy(), GT_INSTANCES.copy()
    labels[_vertex_of(11, 0)] = 0
    instances[_vertex_of(11, 0)] = 0
    result = score_segmentation(GT, _pred(labels, instances), VERTICES)
    assert result.tla == pytest.approx((1 / 3) / 4)
    assert result.tir == 1.0
    assert result.dice[11] == pytest.approx(2 * 3 / (4 + 3))
    assert result.tsa == pytest.approx(2 * 15 / (16 + 15))


def test_centroid_beyond_half_a_tooth_size_is_not_identified() -> None:
    # Losing +x and +y moves the centroid by sqrt(0.5) ~ 0.71 tooth sizes (> 0.5).
    labels, instances = GT_LABELS.copy(), GT_INSTANCES.copy()
    for offset in (0, 2):
        labels[_vertex_of(11, offset)] = 0
        instances[_vertex_of(11, offset)] = 0
    result = score_segmentation(GT, _pred(labels, instances), VERTICES)
    assert result.tir == 0.75
    assert result.tla == pytest.approx(math.sqrt(0.5) / 4)


def test_mixed_label_instance_counts_as_gingiva() -> None:
    # Bypass validation on purpose: a raw prediction whose instance 1 carries 12 and 11.
    labels = GT_LABELS.copy()
    labels[_vertex_of(12, 0)] = 11

    @dataclass
    class Raw:
        labels: NDArray[np.int64]
        instances: NDArray[np.int64]

    raw = Raw(labels, GT_INSTANCES)
    result = score_segmentation(GT, raw, VERTICES)  # type: ignore[arg-type]  # raw arrays on purpose
    assert result.pred_teeth == 3
    assert result.missed_teeth == 1
    assert result.tir == 0.75
    assert result.dice[12] == 0.0


@pytest.mark.parametrize(
    ("mapping", "tir"),
    [({}, 1.0), ({11: 21, 21: 11, 12: 22, 22: 12}, 0.0), ({22: 0}, 0.75)],
)
def test_without_vertices_matching_is_by_overlap(mapping: dict[int, int], tir: float) -> None:
    labels = np.array([mapping.get(int(v), int(v)) for v in GT_LABELS])
    instances = np.where(labels == 0, 0, GT_INSTANCES)
    result = score_segmentation(GT, _pred(labels, instances))
    assert result.matching == "overlap"
    assert result.tir == tir
    assert result.tla is None
    assert result.exp_neg_tla is None
    assert result.score is None


def test_no_teeth_anywhere_is_perfect() -> None:
    zeros = np.zeros(5, dtype=np.int64)
    empty = SegmentationResult("lower", zeros, zeros)
    result = score_segmentation(empty, empty, np.zeros((5, 3)))
    assert (result.tsa, result.tla, result.tir, result.dice) == (1.0, 0.0, 1.0, {})


def test_lengths_must_agree() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        score_segmentation(GT, GT, VERTICES[:-1])
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        score_segmentation(GT, GT, VERTICES[:, :2])
    with pytest.raises(ValueError, match="differ in length"):
        tsa([0, 11], [0])


def test_tsa_is_the_f1_of_teeth() -> None:
    # gt teeth at 1, 2, 3; predicted at 2, 3, 4: tp = 2, F1 = 4 / 6.
    assert tsa([0, 11, 11, 21, 0], [0, 0, 11, 21, 21]) == pytest.approx(4 / 6)
    assert tsa([0, 0], [0, 0]) == 1.0
    assert tsa([0, 0], [11, 0]) == 0.0


def test_dice_per_tooth_exact() -> None:
    gt = [0, 11, 11, 21, 21, 0]
    pred = [0, 11, 21, 21, 0, 12]
    assert dice_per_tooth(gt, pred) == {11: pytest.approx(2 / 3), 21: 0.5, 12: 0.0}


@dataclass(frozen=True)
class Surface:
    vertices: NDArray[np.float64]
    faces: NDArray[np.int64]


SQUARE = Surface(
    np.array([[0.0, 0, 0], [10, 0, 0], [10, 10, 0], [0, 10, 0]]),
    np.array([[0, 1, 2], [0, 2, 3]]),
)


def test_chamfer_of_identical_point_sets_is_zero() -> None:
    points = np.random.default_rng(3).random((200, 3)) * 10
    assert chamfer_distance(points, points.copy()) == 0.0


@pytest.mark.parametrize("shift", [0.25, 0.5, 1.5])
def test_chamfer_of_a_shifted_grid_is_the_shift(shift: float) -> None:
    axis = np.arange(5) * 10.0
    grid = np.stack(np.meshgrid(axis, axis, axis), axis=-1).reshape(-1, 3)
    assert chamfer_distance(grid, grid + np.array([shift, 0.0, 0.0])) == pytest.approx(shift)


def test_chamfer_between_meshes() -> None:
    lifted = Surface(SQUARE.vertices + np.array([0.0, 0.0, 0.3]), SQUARE.faces)
    assert chamfer_distance(SQUARE, SQUARE, samples=2000) == 0.0
    # Same seed, same triangles: every sample has its partner exactly 0.3 mm above.
    assert chamfer_distance(SQUARE, lifted, samples=2000) == pytest.approx(0.3)
    # A point set and a mesh mix.
    assert chamfer_distance(SQUARE, sample_surface(SQUARE, 2000), samples=2000) == 0.0


def test_surface_sampling_is_uniform_by_area_and_deterministic() -> None:
    # Triangle 0 has area 50, triangle 1 has area 150 (three times larger).
    mesh = Surface(
        np.array([[0.0, 0, 0], [10, 0, 0], [0, 10, 0], [10, 30, 0]]),
        np.array([[0, 1, 2], [1, 3, 2]]),
    )
    points = sample_surface(mesh, 20_000, seed=1)
    assert points.shape == (20_000, 3)
    assert np.all(points[:, 2] == 0.0)
    in_first = (points[:, 0] + points[:, 1]) <= 10.0 + 1e-9
    assert in_first.mean() == pytest.approx(0.25, abs=0.02)
    np.testing.assert_array_equal(points, sample_surface(mesh, 20_000, seed=1))


def test_sampling_rejects_meshes_without_area() -> None:
    flat = Surface(np.zeros((3, 3)), np.array([[0, 1, 2]]))
    with pytest.raises(ValueError, match="positive area"):
        sample_surface(flat)
    with pytest.raises(ValueError, match="no triangles"):
        sample_surface(Surface(np.zeros((3, 3)), np.zeros((0, 3), dtype=np.int64)))
    with pytest.raises(ValueError, match="at least 1"):
        sample_surface(SQUARE, 0)
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        chamfer_distance(np.zeros((0, 3)), np.zeros((2, 3)))
