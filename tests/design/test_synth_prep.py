"""Synthetic preparations: a reduced tooth on an unchanged arch, and a watertight ideal crown."""

from __future__ import annotations

import numpy as np
import pytest

from cuspid.design.crown_report import (
    ReportLimits,
    crown_report,
    margin_length,
    open_edge_count,
    signed_volume,
)
from cuspid.design.crown_templates import crown_template, polar_grid
from cuspid.design.labels import InvalidLabels
from cuspid.design.synth import synth_pair
from cuspid.design.synth_prep import PreparationFailed, SynthPreparation, synth_preparation

SMALL = 12_000


def _up(prep: SynthPreparation, points: np.ndarray) -> np.ndarray:
    """Height along the prepared tooth's occlusal direction, in the canonical frame."""
    inverse = np.linalg.inv(prep.transform)
    canonical = points @ inverse[:3, :3].T + inverse[:3, 3]
    return np.asarray(canonical[:, 2] * (1.0 if prep.jaw == "upper" else -1.0))


@pytest.fixture(scope="module")
def molar() -> SynthPreparation:
    return synth_preparation(3, 36, target_vertices=SMALL)


def test_only_the_prepared_tooth_moves_and_it_is_reduced(molar: SynthPreparation) -> None:
    upper, lower = synth_pair(3, target_vertices=SMALL)
    original = lower.mesh
    assert np.array_equal(molar.scan.faces, original.faces)
    moved = np.linalg.norm(molar.scan.vertices - original.vertices, axis=1) > 1e-9
    tooth = molar.segmentation.labels == 36
    assert moved.any()
    assert not (moved & ~tooth).any()
    assert np.array_equal(molar.antagonist.vertices, upper.mesh.vertices)
    before = _up(molar, original.vertices[tooth])
    after = _up(molar, molar.scan.vertices[tooth])
    top = int(np.argmax(before))
    assert 1.5 <= before[top] - after[top] <= 2.0  # the occlusal reduction at the cusp tip
    assert (after <= before + 1e-9).all()  # nothing is added


def test_the_ideal_crown_is_watertight_and_closes_on_the_margin(molar: SynthPreparation) -> None:
    crown = molar.ideal_crown
    assert open_edge_count(crown) == 0
    assert signed_volume(crown) > 20.0
    assert 20.0 < margin_length(molar.margin) < 60.0
    # Every margin point lies on the crown and on the prepared scan.
    for surface in (crown, molar.scan):
        gaps = np.min(
            np.linalg.norm(molar.margin[:, None, :] - surface.vertices[None, :, :], axis=2),
            axis=1,
        )
        assert gaps.max() < 1e-6
    # The margin is on the tooth, below the crown's top.
    assert _up(molar, molar.margin).mean() < _up(molar, crown.vertices).max() - 2.0


@pytest.mark.parametrize(("seed", "tooth"), [(4, 11), (5, 23), (6, 44), (7, 15)])
def test_every_tooth_type_prepares_watertight(seed: int, tooth: int) -> None:
    prep = synth_preparation(seed, tooth, target_vertices=SMALL, pose=False)
    assert open_edge_count(prep.ideal_crown) == 0
    assert signed_volume(prep.ideal_crown) > 10.0
    assert np.allclose(prep.transform[:3, :3], np.eye(3))  # unposed (the jaws' gap remains)
    assert prep.preparation.face_count > 50


@pytest.mark.parametrize(("seed", "tooth"), [(3, 36), (5, 23), (7, 15)])
def test_the_ideal_crown_has_realistic_walls_over_its_preparation(seed: int, tooth: int) -> None:
    # Axial and occlusal reduction of at least 1.1 / 1.5 mm: away from the chamfer the
    # ideal crown (the original tooth over the stump) is about 1 mm thick or more.
    prep = synth_preparation(seed, tooth, target_vertices=SMALL)
    away = ReportLimits(wall_margin_exclusion_mm=2.0)
    report = crown_report(
        prep.ideal_crown, margin=prep.margin, preparation=prep.preparation, limits=away
    )
    assert report.min_wall_thickness_mm is not None
    assert report.min_wall_thickness_mm >= 0.95
    # Measured from 1 mm off the margin (the report's default), it thins towards the chamfer
    # but is never close to the preparation.
    default = crown_report(prep.ideal_crown, margin=prep.margin, preparation=prep.preparation)
    assert default.min_wall_thickness_mm is not None
    assert default.min_wall_thickness_mm >= 0.7


def test_it_is_deterministic() -> None:
    a = synth_preparation(9, 26, target_vertices=SMALL)
    b = synth_preparation(9, 26, target_vertices=SMALL)
    assert np.array_equal(a.scan.vertices, b.scan.vertices)
    assert np.array_equal(a.ideal_crown.faces, b.ideal_crown.faces)


def test_refusals() -> None:
    with pytest.raises(InvalidLabels):
        synth_preparation(1, 19)
    with pytest.raises(PreparationFailed, match="not generated"):
        synth_preparation(1, 38)


@pytest.mark.parametrize("jaw", ["upper", "lower"])
def test_every_crown_template_is_a_closed_solid_of_its_size(jaw: str) -> None:
    for position in range(1, 9):
        template = crown_template(jaw, position, width=9.0, depth=8.0, height=6.0)  # type: ignore[arg-type]  # a Jaw literal
        mesh = template.mesh()
        assert open_edge_count(mesh) == 0
        assert signed_volume(mesh) > 0
        extent = np.ptp(mesh.vertices, axis=0)
        assert extent[0] == pytest.approx(9.0, abs=0.05)
        assert extent[1] == pytest.approx(8.0, abs=0.05)
        assert mesh.vertices[:, 2].max() == pytest.approx(6.0, abs=0.3)
    with pytest.raises(ValueError, match="positive"):
        crown_template("upper", 1, width=0.0)
    with pytest.raises(ValueError, match="at least"):
        polar_grid(1, 4)
