"""Counterfactual strokes keep lightness and chroma and turn the hue, on stroke pixels only."""

from __future__ import annotations

import numpy as np
from skimage.color import rgb2lab

from eval.variants import counterfactual_hints, rotate_hue


def _lch(colours: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lab = rgb2lab(colours.reshape(1, -1, 3)).reshape(-1, 3)
    return lab[:, 0], np.hypot(lab[:, 1], lab[:, 2]), np.degrees(np.arctan2(lab[:, 2], lab[:, 1]))


def test_hue_rotation_keeps_lightness_and_chroma_and_turns_the_hue() -> None:
    colours = np.array([[60, 200, 220], [150, 110, 100], [120, 140, 90], [200, 160, 170]], dtype=np.uint8)
    light, chroma, hue = _lch(colours)
    turned_light, turned_chroma, turned_hue = _lch(rotate_hue(colours))
    assert np.allclose(turned_light, light, atol=0.5) and np.allclose(turned_chroma, chroma, atol=0.8)
    assert np.allclose(np.abs((turned_hue - hue + 180) % 360 - 180), 180, atol=2)


def test_out_of_gamut_colours_keep_lightness_and_hue() -> None:
    red = np.array([[220, 40, 40]], dtype=np.uint8)
    light, chroma, hue = _lch(red)
    turned_light, turned_chroma, turned_hue = _lch(rotate_hue(red))
    assert abs(turned_light[0] - light[0]) < 0.5 and turned_chroma[0] < chroma[0]
    assert abs(abs((turned_hue[0] - hue[0] + 180) % 360 - 180) - 180) < 2


def test_counterfactual_hints_change_stroke_pixels_only() -> None:
    hints = np.zeros((1, 5, 4, 4), dtype=np.uint8)
    hints[0, 0, 0] = 255  # an edge row
    hints[0, 1:4, 2:, 2:] = np.array([60, 200, 220], dtype=np.uint8)[:, None, None]
    hints[0, 4, 2:, 2:] = 255
    turned = counterfactual_hints(hints)
    assert np.array_equal(turned[:, [0, 4]], hints[:, [0, 4]])
    assert np.array_equal(turned[0, 1:4, :2], hints[0, 1:4, :2])  # no stroke: untouched
    expected = rotate_hue(np.array([[60, 200, 220]], dtype=np.uint8))[0]
    assert np.array_equal(turned[0, 1:4, 3, 3], expected) and not np.array_equal(expected, [60, 200, 220])
