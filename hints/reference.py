"""The reference stroke renderer: the seed write-up transcribed literally, one stroke at a time.

Kept for tests and benchmarks, never for training: it spends ~20 ms per stroke on a full-image max filter at
512 px. The fast renderer (`hints.strokes`) must draw the same distribution.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from hints.config import HintConfig
from hints.walks import DIRECTIONS, StrokeStats, walk_length_range


def reference_stroke_mask(
    rng: np.random.Generator, height: int, width: int, num_strokes: int, config: HintConfig
) -> tuple[np.ndarray, list[StrokeStats]]:
    """Union of ``num_strokes`` dilated random walks as a bool ``H x W`` mask, and per-stroke stats."""
    lo, hi = walk_length_range(config, height, width)
    union = np.zeros((height, width), dtype=bool)
    stats: list[StrokeStats] = []
    for _ in range(num_strokes):
        y, x = int(rng.integers(height)), int(rng.integers(width))  # 1. start pixel
        length = int(rng.integers(lo, hi + 1))  # 2. walk length
        mask = np.zeros((height, width), dtype=np.uint8)
        mask[y, x] = 255
        kept = 1
        for _step in range(length):  # 3. one of 8 directions per step
            dy, dx = DIRECTIONS[int(rng.integers(8))]
            y, x = y + int(dy), x + int(dx)
            if not (0 <= y < height and 0 <= x < width):  # 4. cut at the first point outside
                break
            mask[y, x] = 255  # 5. mark visited pixels
            kept += 1
        thickness = int(rng.choice(np.asarray(config.thicknesses)))  # 6. thickness
        if thickness > 0:
            mask = ndimage.maximum_filter(mask, size=thickness)
        stroke = mask > 0
        union |= stroke
        stats.append(StrokeStats(length, kept, thickness, int(stroke.sum())))
    return union, stats
