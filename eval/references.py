"""Reference rows: outputs that cost $0 of training, scored by the same harness as every backbone.

Each is computed from the 5-channel hint alone (``[canny, r, g, b, alpha]``, colours premultiplied by alpha),
except `oracle`, which is the target itself and checks the metric code (stroke ΔE00 about 0 wherever hints
are unblurred copies of the target):

- ``mean-fill``: the whole image in the strokes' alpha-weighted mean colour.
- ``strokes-on-gray``: the strokes where they are, mid-gray elsewhere, the hint's line art drawn dark (strokes
  stay on top of it, as in the hint pictures).
- ``propagate``: LazyBrush-style edge-bounded propagation (Sýkora et al. 2009) by the random walker of Grady
  (2006, scikit-image): the line-art pixels are removed from the 4-connected pixel graph, so a closed outline
  is a wall; each remaining pixel takes the stroke colour whose seeds a random walk from it most likely reaches
  first; line art is then drawn dark over the result (as LazyBrush composites the drawing over its colours).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from skimage.segmentation import random_walker

from eval.items import EvalItems

#: mid-gray where a reference has no colour to give (8-bit sRGB)
GRAY = 128
#: the dark line art drawn over `strokes-on-gray` and `propagate` (near-black, as line drawings are inked)
INK = 20


def mean_fill(hints: np.ndarray) -> np.ndarray:
    """Each image filled with its strokes' alpha-weighted mean colour (gray without strokes): uint8 B x H x W x 3."""
    alpha = hints[:, 4].sum(axis=(1, 2))
    colour = hints[:, 1:4].sum(axis=(2, 3)) / np.maximum(alpha, 1e-12)[:, None]  # premultiplied: sum(c a) / sum(a)
    colour = np.where(alpha[:, None] > 0, colour * 255.0, GRAY)
    image = np.broadcast_to(colour[:, None, None, :], (len(hints), *hints.shape[2:], 3))
    return np.round(np.clip(image, 0, 255)).astype(np.uint8)


def _composite(hints: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Strokes over ``base`` (float B x H x W x 3 in [0, 255]), dark line art where there is no stroke; uint8."""
    strokes = np.moveaxis(hints[:, 1:4], 1, -1) * 255.0
    alpha = hints[:, 4][..., None]
    image = strokes + base * (1.0 - alpha)
    line = (hints[:, 0][..., None] > 0.5) & (alpha == 0)  # a stroke painted over a line keeps its colour
    return np.round(np.clip(np.where(line, INK, image), 0, 255)).astype(np.uint8)


def strokes_on_gray(hints: np.ndarray) -> np.ndarray:
    """Strokes where they are, gray elsewhere, line art dark: uint8 B x H x W x 3."""
    return _composite(hints, np.full((len(hints), *hints.shape[2:], 3), float(GRAY)))


def _even_ground(height: int, width: int) -> np.ndarray:
    """A checkerboard: every 4-neighbour pair differs equally, so the walk's weights are uniform (only the
    removed line art bounds it) and the data's spread, by which scikit-image scales beta, is not zero."""
    return (np.indices((height, width)).sum(axis=0) % 2).astype(np.float64)


def _propagate_one(hint: np.ndarray) -> np.ndarray:
    """One hint's colours spread by a random walk over the pixels that are not line art: float H x W x 3."""
    height, width = hint.shape[1:]
    stroke = hint[4] > 0
    colours = np.moveaxis(hint[1:4], 0, -1)[stroke] / hint[4][stroke][:, None]  # un-premultiplied
    base = np.full((height, width, 3), float(GRAY))
    if not stroke.any():
        return base
    palette, inverse = np.unique(np.round(colours * 255.0), axis=0, return_inverse=True)
    labels = np.zeros((height, width), dtype=np.int64)
    labels[hint[0] > 0.5] = -1  # line art: removed from the graph, a wall between regions
    labels[stroke] = inverse.reshape(-1) + 1
    if len(palette) == 1:
        found = np.where(labels >= 0, 1, 0)
    else:
        with warnings.catch_warnings():  # regions no stroke reaches are reported by a warning: left gray
            warnings.simplefilter("ignore")
            found = random_walker(_even_ground(height, width), labels, mode="cg_j", tol=1e-4)
    reached = found > 0
    base[reached] = palette[found[reached] - 1]
    return base


def propagate(hints: np.ndarray) -> np.ndarray:
    """LazyBrush-style propagation of the strokes' colours, bounded by the line art: uint8 B x H x W x 3."""
    return _composite(hints, np.stack([_propagate_one(h) for h in hints]))


#: reference name -> (outputs of an eval set, what it is in one line)
REFERENCES: dict[str, tuple[Callable[[EvalItems], np.ndarray], str]] = {
    "oracle": (lambda items: items.targets.copy(), "the target itself (checks the metrics)"),
    "mean-fill": (lambda items: mean_fill(items.float_hints(0, len(items))), "the strokes' mean colour everywhere"),
    "strokes-on-gray": (
        lambda items: strokes_on_gray(items.float_hints(0, len(items))),
        "the strokes on gray, line art dark",
    ),
    "propagate": (
        lambda items: propagate(items.float_hints(0, len(items))),
        "strokes spread up to the line art by a random walker (LazyBrush-style, Grady 2006 via scikit-image)",
    ),
}


def reference_outputs(name: str, items: EvalItems) -> np.ndarray:
    """The outputs (uint8 N x H x W x 3) of reference ``name`` on ``items``."""
    return REFERENCES[name][0](items)
