"""The fast stroke renderer: all walks of an image in a few vectorised numpy calls.

Why it is fast: the reference dilates a full-image mask per stroke. Only the union of the dilated walks
matters (overlapping strokes copy the same target pixels), so here every walk point is offset by its stroke's
footprint and scattered into one flat mask: work proportional to the walk points, not to the image area. The
mask carries a 1-pixel border so footprint offsets never need bounds checks (what lands in the border is
cropped away, as the max filter drops it). It draws the same distribution as `hints.reference` (tests
compare them) but consumes the RNG differently.
"""

from __future__ import annotations

import numpy as np

from hints.config import HintConfig
from hints.walks import DIRECTIONS, StrokeStats, footprint_offsets, walk_length_range

_DY = DIRECTIONS[:, 0].astype(np.int32)
_DX = DIRECTIONS[:, 1].astype(np.int32)


def _walks(
    rng: np.random.Generator, height: int, width: int, num_strokes: int, config: HintConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Kept walk points (y, x), each point's stroke id, and per-stroke lengths, thicknesses, kept counts."""
    lo, hi = walk_length_range(config, height, width)
    start_y = rng.integers(0, height, num_strokes, dtype=np.int32)
    start_x = rng.integers(0, width, num_strokes, dtype=np.int32)
    lengths = rng.integers(lo, hi + 1, num_strokes)
    thicknesses = rng.choice(np.asarray(config.thicknesses), num_strokes)
    points_per_stroke = lengths + 1  # the start pixel is visited
    seg_start = np.zeros(num_strokes, dtype=np.int64)
    np.cumsum(points_per_stroke[:-1], out=seg_start[1:])
    total = int(points_per_stroke.sum())
    direction = rng.integers(0, 8, total, dtype=np.uint8)
    stroke_id = np.repeat(np.arange(num_strokes, dtype=np.int32), points_per_stroke)
    coords = []
    for table, start in ((_DY, start_y), (_DX, start_x)):
        step = table[direction]
        step[seg_start] = 0
        running = np.cumsum(step, dtype=np.int32)
        # segmented cumulative sum: each walk starts at its start pixel, whatever came before it
        offset = start - running[seg_start]
        coords.append(running + offset[stroke_id])
    y, x = coords
    outside = (y < 0) | (y >= height) | (x < 0) | (x >= width)
    index = np.arange(total)
    first_out = np.minimum.reduceat(np.where(outside, index, total), seg_start)  # cut at the first exit
    keep = index < first_out[stroke_id]
    kept = np.minimum(first_out - seg_start, points_per_stroke)
    return y[keep], x[keep], stroke_id[keep], lengths, thicknesses, kept


def fast_stroke_mask(
    rng: np.random.Generator,
    height: int,
    width: int,
    num_strokes: int,
    config: HintConfig,
    with_stats: bool = False,
) -> tuple[np.ndarray, list[StrokeStats]]:
    """Union of ``num_strokes`` dilated random walks as a bool ``H x W`` mask (+ per-stroke stats on request)."""
    padded_width = width + 2
    mask = np.zeros((height + 2) * padded_width, dtype=bool)
    if num_strokes <= 0:
        return mask.reshape(height + 2, padded_width)[1:-1, 1:-1], []
    y, x, stroke_id, lengths, thicknesses, kept = _walks(rng, height, width, num_strokes, config)
    flat = (y.astype(np.int64) + 1) * padded_width + (x + 1)
    point_thickness = thicknesses[stroke_id]
    pairs: list[np.ndarray] = []
    for thickness in np.unique(thicknesses):
        offsets = footprint_offsets(int(thickness))
        flat_offsets = offsets[:, 0] * padded_width + offsets[:, 1]
        selected = point_thickness == thickness
        spread = (flat[selected][:, None] + flat_offsets[None, :]).ravel()
        mask[spread] = True
        if with_stats:
            pairs.append(np.stack([np.repeat(stroke_id[selected], len(offsets)), spread], axis=1))
    image_mask = mask.reshape(height + 2, padded_width)[1:-1, 1:-1]
    stats: list[StrokeStats] = []
    if with_stats:
        pixels = _pixels_per_stroke(np.concatenate(pairs), num_strokes, height, width, padded_width)
        stats = [
            StrokeStats(int(lengths[i]), int(kept[i]), int(thicknesses[i]), int(pixels[i])) for i in range(num_strokes)
        ]
    return image_mask, stats


def _pixels_per_stroke(pairs: np.ndarray, num_strokes: int, height: int, width: int, padded_width: int) -> np.ndarray:
    """Distinct in-image pixels per stroke from (stroke id, padded flat index) pairs (tests only: slow)."""
    row, col = pairs[:, 1] // padded_width, pairs[:, 1] % padded_width
    inside = (row >= 1) & (row <= height) & (col >= 1) & (col <= width)
    unique = np.unique(pairs[inside], axis=0)
    return np.bincount(unique[:, 0], minlength=num_strokes)
