"""A real user's line drawing + RGBA stroke image -> the same 5-channel hint the models were trained on.

The line drawing goes through the training Canny (after fitting it to the run's square resolution), so the
model sees the kind of edge map it learned from, whatever the drawing's line width or polarity. In the stroke
image alpha > 0 marks a stroke pixel. A stroke image larger than the run's resolution shrinks so that no stroke is
lost: an output pixel is a stroke pixel when any stroke pixel falls in its area, colored with the mean of those
stroke pixels (a one-color area keeps its exact color). Nearest-neighbour shrinking would keep only every k-th
pixel, so the thin pen strokes of a 512 px drawing would mostly vanish at 64 px. Enlarging is nearest neighbour.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.core.errors import UserError
from bench.core.images import read_rgb, read_rgba, resize_center_crop, to_rgb
from hints.config import HintConfig
from hints.edges import CannyEdges


def load_user_hint(
    lineart: np.ndarray | Path | str,
    strokes_rgba: np.ndarray | Path | str,
    resolution: int,
    config: HintConfig | None = None,
) -> np.ndarray:
    """The hint (float32 ``5 x R x R`` in [0, 1]) of a user's line drawing and RGBA strokes at ``resolution``."""
    config = config or HintConfig()
    drawing = read_rgb(lineart) if isinstance(lineart, (str, Path)) else to_rgb(lineart)
    if isinstance(strokes_rgba, (str, Path)):
        strokes = read_rgba(strokes_rgba)
    else:
        strokes = np.asarray(strokes_rgba)
        if strokes.ndim != 3 or strokes.shape[2] != 4 or strokes.dtype != np.uint8:
            raise UserError(
                "the strokes image must be RGBA uint8 (H x W x 4) with a transparent background, "
                f"got {strokes.dtype} {strokes.shape}"
            )
    ratios = (drawing.shape[1] / drawing.shape[0], strokes.shape[1] / strokes.shape[0])
    if abs(ratios[0] - ratios[1]) > 0.02 * ratios[0]:
        raise UserError(
            f"the strokes image ({strokes.shape[1]}x{strokes.shape[0]}) and the line drawing "
            f"({drawing.shape[1]}x{drawing.shape[0]}) have different shapes; draw the strokes on a layer of the "
            "drawing's size so they land where you meant"
        )
    drawing = resize_center_crop(drawing, resolution)
    colors, present = _fit_strokes(strokes, resolution)
    hint = np.zeros((5, resolution, resolution), dtype=np.float32)
    hint[0] = CannyEdges(config.canny_low, config.canny_high)(drawing) / 255.0
    hint[1:4] = np.moveaxis(colors, -1, 0) * present
    hint[4] = present
    return hint


def _fit_strokes(strokes: np.ndarray, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """RGB in [0, 1] (``R x R x 3``) and stroke mask (``R x R`` bool) of an RGBA stroke image fitted to ``resolution``
    the way `resize_center_crop` fits the drawing, shrinking by stroke coverage (see the module docstring)."""
    if min(strokes.shape[:2]) <= resolution:
        fitted = resize_center_crop(strokes, resolution, nearest=True)
        return fitted[:, :, :3] / 255.0, fitted[:, :, 3] > 0
    mask = (strokes[:, :, 3] > 0).astype(np.float32)
    premultiplied = np.concatenate([strokes[:, :, :3] / 255.0 * mask[:, :, None], mask[:, :, None]], axis=-1)
    shrunk = resize_center_crop(premultiplied.astype(np.float32), resolution)  # area filter: means over each area
    coverage = shrunk[:, :, 3]
    present = coverage > 1e-6
    colors = shrunk[:, :, :3] / np.maximum(coverage, 1e-6)[:, :, None]
    return np.clip(colors, 0.0, 1.0), present
