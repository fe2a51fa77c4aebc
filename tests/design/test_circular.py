"""Angular profiles wrap around: filling, smoothing and reading across the -pi/pi seam."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cuspid.design.circular import at_angle, circular_fill, circular_smooth


def test_a_gap_across_the_seam_is_filled_from_both_ends() -> None:
    values = np.array([np.nan, 2.0, 4.0, 6.0, np.nan, np.nan])
    # Bins 4, 5 and 0 lie between 6 (bin 3) and 2 (bin 1 of the next turn).
    assert np.allclose(circular_fill(values), [3.0, 2.0, 4.0, 6.0, 5.0, 4.0])


def test_a_profile_with_nothing_known_is_refused() -> None:
    with pytest.raises(ValueError, match="no known bin"):
        circular_fill(np.full(4, np.nan))


def test_smoothing_wraps_and_keeps_the_mean() -> None:
    values = np.array([3.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    smoothed = circular_smooth(values, 1)
    assert np.allclose(smoothed, [1.0, 1.0, 0.0, 0.0, 0.0, 1.0])
    assert math.isclose(smoothed.sum(), values.sum())


def test_reading_between_the_last_and_the_first_bin_interpolates_across_pi() -> None:
    profile = np.array([0.0, 10.0, 20.0, 30.0])  # centres at -3pi/4, -pi/4, pi/4, 3pi/4
    assert np.allclose(at_angle(profile, np.array([-math.pi / 4, math.pi])), [10.0, 15.0])
