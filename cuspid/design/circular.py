"""Profiles around a tooth: values in equal angular bins, read and filled periodically.

Used where a crown or a preparation is described by a quantity per direction around its axis
(the margin's height, the outline's radius): the bins wrap around, so interpolation and
smoothing do too.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def circular_fill(values: FloatArray) -> FloatArray:
    """The profile with its NaN bins filled by periodic linear interpolation.

    Raises ValueError when no bin is known.
    """
    known = np.flatnonzero(np.isfinite(values))
    if len(known) == 0:
        raise ValueError("the profile has no known bin")
    n = len(values)
    x = np.concatenate([known - n, known, known + n])
    return np.asarray(np.interp(np.arange(n), x, np.tile(values[known], 3)), dtype=np.float64)


def circular_smooth(values: FloatArray, width: int) -> FloatArray:
    """A moving average over ``2 * width + 1`` bins, wrapping around."""
    kernel = np.ones(2 * width + 1) / (2 * width + 1)
    padded = np.concatenate([values[-width:], values, values[:width]])
    return np.asarray(np.convolve(padded, kernel, mode="valid"), dtype=np.float64)


def at_angle(profile: FloatArray, angle: FloatArray) -> FloatArray:
    """The profile (bin centres from -pi) read at ``angle`` by periodic linear interpolation."""
    n = len(profile)
    centres = -math.pi + (np.arange(n) + 0.5) * 2 * math.pi / n
    x = np.concatenate([centres - 2 * math.pi, centres, centres + 2 * math.pi])
    return np.asarray(np.interp(angle, x, np.tile(profile, 3)), dtype=np.float64)
