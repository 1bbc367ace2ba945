"""95 % bootstrap intervals: percentile intervals over resampled eval items, seeded (same data, same interval).

Per-image metrics resample the per-image values (NaNs, e.g. images without strokes, are left out first).
Set metrics (FID, KID) resample the generated items and recompute the metric against the fixed reference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: resamples of a per-image mean (cheap: one vectorised gather)
MEAN_RESAMPLES = 2000
#: resamples of a set metric (each one recomputes the metric)
SET_RESAMPLES = 100
LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """A metric's value over ``n`` items and its bootstrap interval (NaN bounds when n < 2)."""

    n: int
    mean: float
    low: float
    high: float


def _interval(samples: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(samples, [tail, 100.0 - tail])
    return float(low), float(high)


def bootstrap_mean(
    values: np.ndarray, resamples: int = MEAN_RESAMPLES, seed: int = 0, level: float = LEVEL
) -> Estimate:
    """The mean of ``values`` (NaNs dropped) and its percentile bootstrap interval."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    n = len(values)
    if n == 0:
        return Estimate(0, float("nan"), float("nan"), float("nan"))
    if n == 1:
        return Estimate(1, float(values[0]), float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    step = max(1, 2_000_000 // n)  # bound memory: at most ~2M gathered values at a time
    for start in range(0, resamples, step):
        count = min(step, resamples - start)
        means[start : start + count] = values[rng.integers(0, n, size=(count, n))].mean(axis=1)
    return Estimate(n, float(values.mean()), *_interval(means, level))


def bootstrap_set(
    metric: Callable[[np.ndarray], float],
    n: int,
    resamples: int = SET_RESAMPLES,
    seed: int = 0,
    level: float = LEVEL,
) -> Estimate:
    """``metric(indices)`` on all ``n`` items and its interval over ``resamples`` resampled index sets."""
    if n == 0:
        return Estimate(0, float("nan"), float("nan"), float("nan"))
    value = metric(np.arange(n))
    if n < 2 or resamples < 1:
        return Estimate(n, value, float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    samples = np.array([metric(rng.integers(0, n, size=n)) for _ in range(resamples)])
    samples = samples[~np.isnan(samples)]
    low, high = _interval(samples, level) if len(samples) else (float("nan"), float("nan"))
    return Estimate(n, value, low, high)
