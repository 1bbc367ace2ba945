"""The harness: a sampling function in, metric results out; injected networks stand in for LPIPS / Inception."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eval.fid_kid import FeatureStats
from eval.harness import Scorer, generate
from eval.items import EvalItems
from eval.lpips_metric import LpipsMetric
from eval.metric_specs import PIXEL_METRICS
from eval.pixel_metrics import EdgeSettings
from eval.weights import Unavailable
from hints import HintConfig, make_hint


def _items(n: int = 6, size: int = 24) -> EvalItems:
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    hints = np.stack([make_hint(t, i, HintConfig(num_strokes=3, blur_prob=0.0)) for i, t in enumerate(targets)])
    return EvalItems(
        spec="test:set",
        keys=[f"k{i}" for i in range(n)],
        captions=[f"c{i}" for i in range(n)],
        targets=targets,
        hints=EvalItems.encode_hints(hints),
    )


class L1Distance(torch.nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a - b).abs().mean(dim=(1, 2, 3))


class PooledColour(torch.nn.Module):
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() / 255.0
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)


def test_hint_codes_are_lossless() -> None:
    target = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    hint = make_hint(target, 3, HintConfig(num_strokes=4, blur_prob=0.0))
    items = EvalItems("s", ["k"], [""], target[None], EvalItems.encode_hints(hint[None]))
    assert np.array_equal(items.float_hints(0, 1)[0], hint)  # bit-identical floats for sampling


def test_generate_batches_the_sampling_function_and_checks_its_output() -> None:
    items = _items(5)
    seen = []

    def sample(hints: np.ndarray, captions: list[str]) -> np.ndarray:
        seen.append((hints.shape[0], tuple(captions)))
        assert hints.dtype == np.float32 and 0 <= hints.min() and hints.max() <= 1
        return np.zeros((len(hints), 24, 24, 3), np.uint8)

    counted = []
    generation = generate(sample, items, batch_size=2, progress=counted.append)
    assert [s[0] for s in seen] == [2, 2, 1] and seen[0][1] == ("c0", "c1")
    assert generation.outputs.shape == (5, 24, 24, 3) and counted == [2, 2, 1]
    with pytest.raises(ValueError, match="expected"):
        generate(lambda h, c: np.zeros((len(h), 8, 8, 3), np.uint8), items, batch_size=2)


def test_scorer_with_injected_networks_scores_every_metric() -> None:
    items = _items()
    scorer = Scorer(EdgeSettings(), LpipsMetric(L1Distance()), FeatureStats(PooledColour()), set_resamples=10)
    results = {r.metric: r for r in scorer.score(items.targets, items, (*PIXEL_METRICS, "lpips", "fid", "kid"))}
    assert set(results) == {*PIXEL_METRICS, "lpips", "fid", "kid"}
    assert all(r.available for r in results.values())
    # outputs equal to the targets: perfect colour, zero distances
    assert results["stroke_de"].estimate.mean == pytest.approx(0.0, abs=1e-3)
    assert results["stroke_jnd_share"].estimate.mean == 1.0
    assert results["lpips"].estimate.mean == 0.0 and results["fid"].estimate.mean == pytest.approx(0.0, abs=1e-9)
    assert results["stroke_de"].estimate.n == 6
    noisy = np.clip(items.targets.astype(int) + 40, 0, 255).astype(np.uint8)
    worse = {r.metric: r.estimate for r in scorer.score(noisy, items, ("stroke_de", "fid", "kid", "psnr"))}
    assert worse["stroke_de"].mean > 5 and worse["fid"].mean > 0 and worse["psnr"].mean < 30
    assert worse["stroke_de"].low <= worse["stroke_de"].mean <= worse["stroke_de"].high


def test_unavailable_networks_give_a_note_and_no_number() -> None:
    items = _items(3)
    scorer = Scorer(
        EdgeSettings(), Unavailable("LPIPS is unavailable: x"), Unavailable("FID and KID are unavailable: y")
    )
    results = {r.metric: r for r in scorer.score(items.targets, items, ("lpips", "fid", "kid", "psnr"))}
    assert results["lpips"].estimate is None and results["lpips"].note.endswith("x")
    assert results["fid"].estimate is None and results["kid"].note.endswith("y")
    assert results["psnr"].available
    assert not scorer.available("lpips") and not scorer.available("fid") and scorer.available("edge_f1")
