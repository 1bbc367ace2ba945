"""`make_hint`: the 5-channel hint every backbone is trained and evaluated with.

Layout (float32, ``5 x H x W``, all in [0, 1]): channel 0 Canny edges {0, 1}; channels 1-3 the strokes' RGB
(the target's colors under the stroke mask, 0 elsewhere); channel 4 alpha (1 under the mask). When the blur
draw fires, the whole RGBA stroke map is Gaussian-blurred (premultiplied: colors fade with alpha at the
edges), so a model cannot learn to paste the strokes and ignore the rest.

Determinism: every random draw comes from ``np.random.default_rng(seed)`` (PCG64, portable across machines)
in a fixed order: stroke count, blur decision, then the strokes.
"""

from __future__ import annotations

import cv2
import numpy as np

from hints.config import HintConfig
from hints.edges import CannyEdges
from hints.reference import reference_stroke_mask
from hints.strokes import fast_stroke_mask
from hints.walks import draw_stroke_count

NUM_CHANNELS = 5


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{type(image).__name__} {getattr(image, 'dtype', '')} {getattr(image, 'shape', '')}"
        raise ValueError(f"make_hint needs an RGB uint8 H x W x 3 array, got {got}")


class ColorStrokes:
    """4-channel hint filter: RGBA color strokes copied from the target along random walks."""

    num_channels = 4

    def __init__(self, config: HintConfig, renderer: str = "fast") -> None:
        if renderer not in ("fast", "reference"):
            raise ValueError(f"unknown stroke renderer '{renderer}' (valid: fast, reference)")
        self.config = config
        self.renderer = renderer

    def __call__(self, image: np.ndarray, rng: np.random.Generator, out: np.ndarray) -> None:
        """Write the strokes of ``image`` into ``out[0:4]`` (a zeroed float32 ``4 x H x W`` view)."""
        height, width = image.shape[:2]
        count = draw_stroke_count(rng, self.config)
        blur = bool(rng.random() < self.config.blur_prob)
        render = fast_stroke_mask if self.renderer == "fast" else reference_stroke_mask
        mask, _ = render(rng, height, width, count, self.config)
        index = np.flatnonzero(mask)
        out[:3].reshape(3, -1)[:, index] = image.reshape(-1, 3)[index].T * np.float32(1 / 255)
        out[3].reshape(-1)[index] = 1.0
        if blur and index.size:
            blurred = cv2.GaussianBlur(np.ascontiguousarray(np.moveaxis(out, 0, -1)), (0, 0), self.config.blur_sigma)
            out[:] = np.moveaxis(blurred, -1, 0)


def make_hint(image: np.ndarray, seed: int, config: HintConfig | None = None, renderer: str = "fast") -> np.ndarray:
    """The hint of an RGB uint8 ``H x W x 3`` image: float32 ``5 x H x W`` in [0, 1].

    The same (image, seed, config) gives a bit-identical hint on any machine. ``renderer="reference"`` uses the
    literal per-stroke implementation (tests and benchmarks only).
    """
    config = config or HintConfig()
    _check_image(image)
    rng = np.random.default_rng(seed)
    hint = np.zeros((NUM_CHANNELS, *image.shape[:2]), dtype=np.float32)
    edges = CannyEdges(config.canny_low, config.canny_high)(image)
    np.multiply(edges, np.float32(1 / 255), out=hint[0], casting="unsafe")
    ColorStrokes(config, renderer)(image, rng, hint[1:])
    return hint
