"""Counterfactual strokes: eval strokes in the opposite hue, which no caption can supply.

Counterfactual strokes turn every stroke colour half-way round the hue circle of CIE LCh(ab), keeping its
lightness and chroma, so a model that paints the caption's colours (or its prior's) misses them by far while
one that follows the strokes scores as on the originals. A rotated colour outside the sRGB gamut keeps its
lightness and new hue and loses just enough chroma to fit.
"""

from __future__ import annotations

import numpy as np
from skimage.color import lab2xyz, rgb2lab
from skimage.color.colorconv import rgb_from_xyz

#: bisection steps of the chroma that fits the gamut (2^-12 of the chroma: far below one 8-bit code)
_GAMUT_STEPS = 12


def _linear_rgb(lab: np.ndarray) -> np.ndarray:
    """CIELAB ``N x 3`` -> linear sRGB ``N x 3``, unclipped (outside [0, 1] means outside the gamut)."""
    return lab2xyz(lab) @ rgb_from_xyz.T


def _encode(linear: np.ndarray) -> np.ndarray:
    """Linear sRGB in [0, 1] -> 8-bit sRGB codes."""
    linear = np.clip(linear, 0.0, 1.0)
    rgb = np.where(linear > 0.0031308, 1.055 * np.power(linear, 1 / 2.4) - 0.055, 12.92 * linear)
    return np.round(rgb * 255.0).astype(np.uint8)


def rotate_hue(colours: np.ndarray, degrees: float = 180.0) -> np.ndarray:
    """8-bit sRGB colours ``N x 3`` with their LCh hue turned by ``degrees`` (L and chroma kept where in gamut)."""
    lab = rgb2lab(np.asarray(colours, dtype=np.uint8).reshape(1, -1, 3)).reshape(-1, 3)
    angle = np.deg2rad(degrees)
    turned = lab.copy()
    turned[:, 1] = lab[:, 1] * np.cos(angle) - lab[:, 2] * np.sin(angle)
    turned[:, 2] = lab[:, 1] * np.sin(angle) + lab[:, 2] * np.cos(angle)
    scale_low, scale_high = np.zeros(len(lab)), np.ones(len(lab))
    fits = _in_gamut(turned)
    scale_low[fits] = 1.0
    for _ in range(_GAMUT_STEPS):  # bisect the largest chroma scale that fits, for the colours that do not
        middle = (scale_low + scale_high) / 2.0
        ok = _in_gamut(_scaled(turned, middle))
        scale_low = np.where(ok, middle, scale_low)
        scale_high = np.where(ok, scale_high, middle)
    return _encode(_linear_rgb(_scaled(turned, scale_low)))


def _scaled(lab: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    return np.stack([lab[:, 0], lab[:, 1] * chroma, lab[:, 2] * chroma], axis=1)


def _in_gamut(lab: np.ndarray) -> np.ndarray:
    linear = _linear_rgb(lab)
    return np.all((linear >= -1e-6) & (linear <= 1 + 1e-6), axis=1)


def counterfactual_hints(hints: np.ndarray) -> np.ndarray:
    """Hint codes ``N x 5 x H x W`` (uint8) with every stroke pixel's colour hue-rotated by 180 degrees.

    Eval strokes are never blurred (alpha is 0 or 255), so each stroke pixel's colour is the stroke's colour.
    """
    hints = np.array(hints, dtype=np.uint8, copy=True)
    colours = np.moveaxis(hints[:, 1:4], 1, -1)  # N x H x W x 3, a view into hints
    where = hints[:, 4] > 0
    unique, inverse = np.unique(colours[where], axis=0, return_inverse=True)
    if len(unique):
        colours[where] = rotate_hue(unique)[inverse.reshape(-1)]
    return hints
