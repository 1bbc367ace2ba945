"""Pixel metrics on known inputs: CIEDE2000 (published pairs, scikit-image), stroke fidelity, PSNR, edge F1."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.color import deltaE_ciede2000, rgb2lab

from eval.ciede2000 import ciede2000, rgb_to_lab
from eval.color_fidelity import stroke_scores
from eval.edges import edge_f1, edge_f1_pair
from eval.image_error import PSNR_CAP_DB, image_color_error, psnr
from eval.pixel_metrics import EdgeSettings, score_pixels, target_labs

# Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula: implementation notes, supplementary
# test data, and mathematical observations": Lab 1, Lab 2, expected difference (hue wrap-around cases included)
SHARMA_PAIRS = [
    (50.0, 2.6772, -79.7751, 50.0, 0.0, -82.7485, 2.0425),
    (50.0, 3.1571, -77.2803, 50.0, 0.0, -82.7485, 2.8615),
    (50.0, 2.8361, -74.0200, 50.0, 0.0, -82.7485, 3.4412),
    (50.0, -1.3802, -84.2814, 50.0, 0.0, -82.7485, 1.0000),
    (50.0, 0.0, 0.0, 50.0, -1.0, 2.0, 2.3669),
    (50.0, 2.49, -0.001, 50.0, -2.49, 0.0009, 7.1792),
    (50.0, 2.49, -0.001, 50.0, -2.49, 0.0011, 7.2195),
    (50.0, -0.001, 2.49, 50.0, 0.0009, -2.49, 4.8045),
    (50.0, 2.5, 0.0, 73.0, 25.0, -18.0, 27.1492),
    (50.0, 2.5, 0.0, 56.0, -27.0, -3.0, 31.9030),
    (50.0, 2.5, 0.0, 50.0, 3.1736, 0.5854, 1.0000),
    (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
    (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373),
    (90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381),
    (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),
]


def test_ciede2000_matches_the_published_test_pairs() -> None:
    pairs = np.array(SHARMA_PAIRS)
    got = ciede2000(pairs[:, :3], pairs[:, 3:6]).numpy()
    np.testing.assert_allclose(got, pairs[:, 6], atol=1e-4)
    # symmetric, and zero for identical colours
    np.testing.assert_allclose(ciede2000(pairs[:, 3:6], pairs[:, :3]).numpy(), got, atol=1e-4)
    assert float(ciede2000(pairs[:, :3], pairs[:, :3]).abs().max()) < 1e-3


def test_rgb_to_lab_and_ciede2000_match_scikit_image_on_random_images() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    lab_a, lab_b = rgb_to_lab(torch.from_numpy(a)), rgb_to_lab(torch.from_numpy(b))
    np.testing.assert_allclose(lab_a.numpy(), rgb2lab(a / 255.0), atol=2e-4)
    np.testing.assert_allclose(rgb_to_lab(torch.from_numpy(a / 255.0)).numpy(), rgb2lab(a / 255.0), atol=2e-4)
    greys_and_darks = np.stack([np.arange(256)] * 3, axis=-1).astype(np.uint8)  # the linear (dark) branch too
    greys_and_darks[:40, 0] = 0
    np.testing.assert_allclose(rgb_to_lab(greys_and_darks).numpy(), rgb2lab(greys_and_darks / 255.0), atol=2e-4)
    expected = deltaE_ciede2000(rgb2lab(a / 255.0), rgb2lab(b / 255.0))
    np.testing.assert_allclose(ciede2000(lab_a, lab_b).numpy(), expected, atol=2e-3)


def _hint_with_strokes(image: np.ndarray, mask: np.ndarray, colour_image: np.ndarray | None = None) -> np.ndarray:
    """A 5 x H x W float hint whose strokes copy ``colour_image`` (default: ``image``) under ``mask``."""
    source = image if colour_image is None else colour_image
    hint = np.zeros((5, *image.shape[:2]), np.float32)
    hint[1:4] = source.transpose(2, 0, 1) / 255.0 * mask
    hint[4] = mask
    return hint


def test_stroke_fidelity_on_known_colours() -> None:
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    grey = np.full((8, 8, 3), 128, np.uint8)
    mask = np.zeros((8, 8), np.float32)
    mask[2:4, 1:7] = 1.0  # 12 stroke pixels
    hints = np.stack([_hint_with_strokes(red, mask), _hint_with_strokes(red, mask), _hint_with_strokes(red, 0 * mask)])
    outputs = np.stack([red, grey, grey])
    scores = stroke_scores(outputs, hints)
    expected = deltaE_ciede2000(rgb2lab(np.array([[1.0, 0, 0]])), rgb2lab(np.array([[128 / 255.0] * 3])))[0]
    np.testing.assert_allclose(scores.mean_de[:2], [0.0, expected], atol=1e-3)
    np.testing.assert_array_equal(scores.jnd_share[:2], [1.0, 0.0])
    np.testing.assert_array_equal(scores.pixels, [12, 12, 0])
    assert np.isnan(scores.mean_de[2]) and np.isnan(scores.jnd_share[2])  # no strokes: no score
    # uint8-coded hints (how the harness stores them) give the same scores
    coded = stroke_scores(outputs, np.round(hints * 255).astype(np.uint8))
    np.testing.assert_allclose(coded.mean_de[:2], scores.mean_de[:2], atol=1e-3)


def test_stroke_shares_split_at_the_thresholds() -> None:
    target = np.full((1, 4, 4, 3), 100, np.uint8)
    mask = np.ones((4, 4), np.float32)
    hints = _hint_with_strokes(target[0], mask)[None]
    output = target.copy()
    output[0, 0, :2] = 101  # a one-code change: under one JND
    output[0, 1, :2] = 140  # a large change: over 10
    scores = stroke_scores(output, hints)
    assert scores.jnd_share[0] == pytest.approx(14 / 16)
    assert scores.close_share[0] == pytest.approx(14 / 16)
    output[0, 2, :] = 110  # between 2.3 and 10 (about 3.8)
    scores = stroke_scores(output, hints)
    assert scores.jnd_share[0] == pytest.approx(10 / 16) and scores.close_share[0] == pytest.approx(14 / 16)


def test_whole_image_error_and_psnr() -> None:
    rng = np.random.default_rng(1)
    target = rng.integers(0, 255, (2, 16, 16, 3), dtype=np.uint8)
    output = target.copy()
    output[1] += 1  # every value one code brighter: MSE 1
    np.testing.assert_allclose(psnr(output, target), [PSNR_CAP_DB, 10 * np.log10(255.0**2)], atol=1e-6)
    errors = image_color_error(output, target)
    expected = deltaE_ciede2000(rgb2lab(output[1] / 255.0), rgb2lab(target[1] / 255.0)).mean()
    assert errors[0] == pytest.approx(0.0, abs=1e-4) and errors[1] == pytest.approx(expected, abs=1e-3)


def test_edge_f1_on_known_maps() -> None:
    ref = np.zeros((20, 20), bool)
    ref[10, 2:18] = True  # a horizontal line of 16 px
    shifted = np.roll(ref, 1, axis=0)
    assert edge_f1_pair(ref, ref, tolerance=0) == 1.0
    assert edge_f1_pair(shifted, ref, tolerance=0) == 0.0
    assert edge_f1_pair(shifted, ref, tolerance=1) == 1.0  # a one-pixel shift is forgiven
    half = ref.copy()
    half[10, 10:] = False  # the output draws half the line: precision 1, recall 1/2
    assert edge_f1_pair(half, ref, tolerance=0) == pytest.approx(2 / 3)
    assert edge_f1_pair(np.zeros_like(ref), np.zeros_like(ref)) == 1.0
    assert edge_f1_pair(np.zeros_like(ref), ref) == 0.0


def test_edge_f1_runs_canny_on_the_output() -> None:
    image = np.zeros((1, 32, 32, 3), np.uint8)
    image[0, 8:24, 8:24] = 255  # a white square: Canny finds its outline
    from hints.edges import CannyEdges

    hints = np.zeros((1, 5, 32, 32), np.float32)
    hints[0, 0] = CannyEdges()(image[0]) / 255.0
    assert edge_f1(image, hints)[0] == 1.0
    assert edge_f1(np.zeros_like(image), hints)[0] == 0.0


def test_score_pixels_shares_lab_and_accepts_cached_targets() -> None:
    rng = np.random.default_rng(2)
    targets = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    outputs = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    mask = (rng.random((16, 16)) < 0.2).astype(np.float32)
    hints = np.stack([_hint_with_strokes(t, mask) for t in targets])
    scores = score_pixels(outputs, targets, hints, EdgeSettings(tolerance=1))
    cached = score_pixels(outputs, targets, hints, EdgeSettings(tolerance=1), target_labs(targets))
    assert set(scores) == {"stroke_de", "stroke_jnd_share", "stroke_close_share", "image_de", "psnr", "edge_f1"}
    for name, values in scores.items():
        assert values.shape == (3,)
        np.testing.assert_allclose(cached[name], values, atol=1e-6)
    perfect = score_pixels(targets, targets, hints, EdgeSettings())
    np.testing.assert_allclose(perfect["stroke_de"], 0.0, atol=1e-3)
    np.testing.assert_allclose(perfect["image_de"], 0.0, atol=1e-3)
    with pytest.raises(ValueError):
        score_pixels(outputs[:2], targets, hints, EdgeSettings())
