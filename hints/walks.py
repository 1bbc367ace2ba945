"""Stroke geometry shared by both stroke renderers: directions, thickness footprints, stroke statistics.

Thickness follows the seed write-up literally: a square max filter of size t (``scipy.ndimage.maximum_filter``
with ``size=t``). For an even size scipy centres the window at ``size // 2``, so a marked pixel spreads to
offsets {0, +1} (t = 2) and {-1, 0, +1} (t = 3); t = 0 (no filter) and t = 1 (identity) give the same 1-pixel
line. Pixels pushed past the border are dropped, exactly as the filter's reflect mode behaves for a dilation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hints.config import HintConfig

#: the 8 neighbour steps (dy, dx): N, S, W, E and the four diagonals
DIRECTIONS = np.array([(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)], dtype=np.int64)


def footprint_offsets(thickness: int) -> np.ndarray:
    """(k, 2) pixel offsets a walk pixel spreads to under a ``thickness x thickness`` square max filter."""
    if thickness <= 1:
        return np.zeros((1, 2), dtype=np.int64)
    # the filter's window covers [-(t // 2), t - 1 - t // 2]; a pixel spreads to the mirror of that window
    span = np.arange(-(thickness - 1 - thickness // 2), thickness // 2 + 1)
    dy, dx = np.meshgrid(span, span, indexing="ij")
    return np.stack([dy.ravel(), dx.ravel()], axis=1)


def walk_length_range(config: HintConfig, height: int, width: int) -> tuple[int, int]:
    """Inclusive walk-length range in steps; the opt-in "scaled" sampler shrinks it with the image."""
    lo, hi = config.walk_length
    if config.sampler == "seed":
        return lo, hi
    if config.sampler == "scaled":
        scale = min(height, width) / 512.0
        return max(1, round(lo * scale)), max(1, round(hi * scale))
    raise ValueError(f"unknown stroke sampler '{config.sampler}' (valid: seed, scaled)")


def draw_stroke_count(rng: np.random.Generator, config: HintConfig) -> int:
    """Strokes for one image: the fixed count, or uniform over the inclusive (min, max) range."""
    if isinstance(config.num_strokes, int):
        return config.num_strokes
    lo, hi = config.num_strokes
    return int(rng.integers(lo, hi + 1))


@dataclass
class StrokeStats:
    """Per-stroke facts, exposed so tests can compare the two renderers' distributions."""

    #: drawn walk length L (steps), before the cut at the border
    length: int
    #: points of the walk kept after the cut (the start pixel included)
    kept_points: int
    #: drawn thickness (0..3)
    thickness: int
    #: distinct image pixels this stroke covers after dilation
    pixels: int
