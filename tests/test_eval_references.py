"""Reference rows on constructed hints: mean-fill is exact, propagate fills a closed region and stops at the line."""

from __future__ import annotations

import numpy as np

from eval.items import EvalItems
from eval.references import GRAY, INK, REFERENCES, mean_fill, propagate, reference_outputs, strokes_on_gray

SIZE = 24


def _hint() -> np.ndarray:
    """A closed square outline (rows/cols 6..17), a red stroke inside it and a blue stroke outside."""
    hint = np.zeros((1, 5, SIZE, SIZE), dtype=np.float32)
    hint[0, 0, 6, 6:18] = hint[0, 0, 17, 6:18] = hint[0, 0, 6:18, 6] = hint[0, 0, 6:18, 17] = 1.0
    for (row, col), colour in (((10, 10), (1.0, 0.0, 0.0)), ((2, 2), (0.0, 0.0, 1.0))):
        hint[0, 1:4, row : row + 2, col : col + 3] = np.array(colour)[:, None, None]
        hint[0, 4, row : row + 2, col : col + 3] = 1.0
    return hint


def test_mean_fill_is_the_alpha_weighted_mean_colour() -> None:
    hint = np.zeros((2, 5, 4, 4), dtype=np.float32)
    hint[0, 1:4, 0, 0], hint[0, 4, 0, 0] = (1.0, 0.0, 0.0), 1.0  # red, full alpha
    hint[0, 1:4, 1, 1], hint[0, 4, 1, 1] = (0.0, 0.0, 0.5), 0.5  # blue at half alpha (premultiplied)
    out = mean_fill(hint)
    expected = np.round(np.array([1.0, 0.0, 0.5]) / 1.5 * 255).astype(np.uint8)  # (1 x red + 0.5 x blue) / 1.5
    assert out.shape == (2, 4, 4, 3) and (out[0] == expected).all()
    assert (out[1] == GRAY).all()  # no strokes: gray


def test_propagate_fills_a_closed_outlined_region_and_stops_at_the_line() -> None:
    out = propagate(_hint())[0]
    inside, outside = out[7:17, 7:17], np.concatenate([out[:6].reshape(-1, 3), out[18:].reshape(-1, 3)])
    assert (inside == (255, 0, 0)).all()
    assert (outside == (0, 0, 255)).all()
    assert (out[6, 6:18] == INK).all() and (out[6:18, 17] == INK).all()


def test_strokes_on_gray_and_every_reference_through_eval_items() -> None:
    hint = _hint()
    out = strokes_on_gray(hint)[0]
    assert (out[10, 10] == (255, 0, 0)).all() and (out[0, 0] == GRAY).all() and (out[6, 8] == INK).all()
    targets = np.full((1, SIZE, SIZE, 3), 7, dtype=np.uint8)
    items = EvalItems("x", ["k"], ["c"], targets, EvalItems.encode_hints(hint))
    assert np.array_equal(reference_outputs("oracle", items), targets)
    for name in REFERENCES:
        assert reference_outputs(name, items).shape == (1, SIZE, SIZE, 3)
