"""The evaluation harness: sample an eval set through a sampling *function*, then score the outputs.

It never sees a model: `bench eval` hands it ``sample(hints, captions) -> images`` built from a checkpoint
(as k-diffusion's harness receives a sampling function), so metrics cannot reach into a backbone and every
backbone is scored by the same code. The `Scorer` holds the metric suite (pixel metrics always; LPIPS and
FID/KID when their standard weights are present, otherwise one sentence each) and caches what depends only on
the eval set: the targets' CIELAB planes and their Inception statistics.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from eval.bootstrap import SET_RESAMPLES, Estimate, bootstrap_mean, bootstrap_set
from eval.ciede2000 import Planes
from eval.fid_kid import FeatureStats, ReferenceStats, frechet_distance, kernel_inception_distance
from eval.items import EvalItems
from eval.lpips_metric import LpipsMetric
from eval.metric_specs import PIXEL_METRICS
from eval.pixel_metrics import EdgeSettings, score_pixels, target_labs
from eval.weights import Unavailable

#: hints (float32 ``B x 5 x H x W`` in [0, 1]) and captions -> outputs (uint8 ``B x H x W x 3``)
SampleFn = Callable[[np.ndarray, list[str]], np.ndarray]
#: the network metrics
NETWORK_METRICS = ("lpips", "fid", "kid")


@dataclass
class MetricResult:
    """One metric's estimate, or the sentence that says why it could not be computed."""

    metric: str
    estimate: Estimate | None
    note: str = ""
    #: one score per item for per-image metrics (what paired comparisons across runs need), else None
    values: np.ndarray | None = field(default=None, repr=False)

    @property
    def available(self) -> bool:
        return self.estimate is not None


@dataclass
class Generation:
    """What sampling an eval set produced: outputs and the wall-clock seconds it took."""

    outputs: np.ndarray
    seconds: float


def generate(
    sample: SampleFn, items: EvalItems, batch_size: int, progress: Callable[[int], None] | None = None
) -> Generation:
    """Sample every item of ``items`` in batches of ``batch_size``; ``progress(k)`` after each batch."""
    outputs = []
    start = time.perf_counter()
    for begin in range(0, len(items), batch_size):
        stop = min(begin + batch_size, len(items))
        images = np.asarray(sample(items.float_hints(begin, stop), items.captions[begin:stop]))
        expected = (stop - begin, *items.targets.shape[1:])
        if images.shape != expected or images.dtype != np.uint8:
            raise ValueError(f"the sampling function returned {images.shape} {images.dtype}, expected {expected} uint8")
        outputs.append(images)
        if progress is not None:
            progress(stop - begin)
    return Generation(np.concatenate(outputs), time.perf_counter() - start)


@dataclass
class _SetCache:
    labs: list[Planes]
    reference: ReferenceStats | None = None


@dataclass
class Scorer:
    """The metric suite with its settings; scores outputs of an eval set into `MetricResult`s."""

    edges: EdgeSettings
    lpips: LpipsMetric | Unavailable
    features: FeatureStats | Unavailable
    workers: int = 1
    seed: int = 0
    set_resamples: int = SET_RESAMPLES
    _cache: dict[int, tuple[EvalItems, _SetCache]] = field(default_factory=dict, repr=False)

    def available(self, metric: str) -> bool:
        """Whether ``metric`` can be computed with this suite."""
        if metric == "lpips":
            return not isinstance(self.lpips, Unavailable)
        if metric in ("fid", "kid"):
            return not isinstance(self.features, Unavailable)
        return True

    def _set_cache(self, items: EvalItems) -> _SetCache:
        held = self._cache.get(id(items))
        if held is None or held[0] is not items:
            held = (items, _SetCache(target_labs(items.targets)))
            self._cache[id(items)] = held
        return held[1]

    def score(self, outputs: np.ndarray, items: EvalItems, metrics: tuple[str, ...]) -> list[MetricResult]:
        """Score ``outputs`` (uint8, aligned with ``items``) on ``metrics`` (names of `eval.metric_specs`)."""
        results = []
        cache = self._set_cache(items)
        if any(m in PIXEL_METRICS for m in metrics):
            values = score_pixels(outputs, items.targets, items.hints, self.edges, cache.labs, self.workers)
            results += [
                MetricResult(m, bootstrap_mean(values[m], seed=self.seed), values=values[m])
                for m in PIXEL_METRICS
                if m in metrics
            ]
        if "lpips" in metrics:
            if isinstance(self.lpips, Unavailable):
                results.append(MetricResult("lpips", None, self.lpips.reason))
            else:
                scores = np.asarray(self.lpips(outputs, items.targets), dtype=np.float64)
                results.append(MetricResult("lpips", bootstrap_mean(scores, seed=self.seed), values=scores))
        wanted = [m for m in ("fid", "kid") if m in metrics]
        if wanted and isinstance(self.features, Unavailable):
            results += [MetricResult(m, None, self.features.reason) for m in wanted]
        elif wanted:
            results += self._set_metrics(outputs, items, cache, wanted)
        return results

    def _set_metrics(
        self, outputs: np.ndarray, items: EvalItems, cache: _SetCache, wanted: list[str]
    ) -> list[MetricResult]:
        assert isinstance(self.features, FeatureStats)
        if cache.reference is None:
            cache.reference = ReferenceStats(self.features.features(items.targets))
        reference = cache.reference
        generated = self.features.features(outputs)
        n = len(generated)
        results = []
        if "fid" in wanted:
            estimate = bootstrap_set(
                lambda idx: frechet_distance(reference, generated[idx]), n, self.set_resamples, self.seed
            )
            results.append(MetricResult("fid", estimate))
        if "kid" in wanted:
            # resamples use 10 subsets (only matters past 1,000 items, where KID averages subsets of 1,000)
            estimate = bootstrap_set(
                lambda idx: kernel_inception_distance(reference.features, generated[idx], subsets=10),
                n,
                self.set_resamples,
                self.seed,
            )
            mean = kernel_inception_distance(reference.features, generated, subsets=100, seed=self.seed)
            results.append(MetricResult("kid", dataclasses.replace(estimate, mean=mean)))
        return results
