"""Statistics across training seeds: hierarchical bootstrap means and paired differences between backbones.

A backbone's score varies with its training seed as much as with the eval items, so an interval over items
alone is too narrow. Each resample draws seeds with replacement, then items with replacement (the same items
for every drawn seed, since every seed is scored on the same eval items), and takes the grand mean. Two
backbones are compared on the same seeds and the same items: the per-item differences are bootstrapped the
same way, so what item difficulty shares between them cancels. The interval is the bootstrap's standard error,
corrected for few units, times Student's t (see `_widening`); seeded: same data, same interval."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.stats

from eval.bootstrap import LEVEL, MEAN_RESAMPLES

#: per-seed values of one backbone on one eval set: training seed -> one score per eval item (aligned)
SeedValues = Mapping[int, np.ndarray]


@dataclass(frozen=True)
class SeededEstimate:
    """A mean over seeds and items, its hierarchical interval, and each seed's own mean over items."""

    mean: float
    low: float
    high: float
    seeds: tuple[int, ...]
    per_seed: tuple[float, ...]
    #: eval items used (those scored in every seed)
    items: int

    @property
    def clear(self) -> bool:
        """Whether the interval excludes zero (for a difference: a difference at the interval's level)."""
        return bool(self.low > 0 or self.high < 0)


def _matrix(values: SeedValues, seeds: list[int]) -> np.ndarray:
    matrix = np.stack([np.asarray(values[s], dtype=np.float64) for s in seeds])
    if matrix.ndim != 2:
        raise ValueError("each seed needs one value per eval item")
    return matrix


def _keep_scored(*matrices: np.ndarray) -> list[np.ndarray]:
    """The matrices with every item that is NaN anywhere left out (e.g. an image without strokes)."""
    scored = np.all([~np.isnan(m).any(axis=0) for m in matrices], axis=0)
    return [m[:, scored] for m in matrices]


def resampled_means(matrix: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """``resamples`` grand means of ``matrix`` (seeds x items): seeds drawn, then items within each seed."""
    seeds, items = matrix.shape
    means = np.empty(resamples)
    step = max(1, 2_000_000 // (seeds * items))  # bound memory: at most ~2M gathered values at a time
    for start in range(0, resamples, step):
        count = min(step, resamples - start)
        rows = rng.integers(0, seeds, size=(count, seeds, 1))
        columns = rng.integers(0, items, size=(count, 1, items))  # the same items in every drawn seed
        means[start : start + count] = matrix[rows, columns].mean(axis=(1, 2))
    return means


def _variance_parts(matrix: np.ndarray) -> list[tuple[float, int]]:
    """The grand mean's variance from the seed level and from the item level, each with its sample count."""
    seeds, items = matrix.shape
    return [
        (float(np.var(means, ddof=1)) / count, count)
        for means, count in ((matrix.mean(axis=1), seeds), (matrix.mean(axis=0), items))
        if count > 1
    ]


def _widening(parts: list[tuple[float, int]]) -> tuple[float, float]:
    """(factor on the bootstrap's standard error, degrees of freedom of Student's t).

    A bootstrap over k units spreads by (k - 1) / k of the variance (the factor undoes that, per level), and
    the variance is estimated from few seeds, so the quantile is Student's t on Satterthwaite's degrees of
    freedom rather than the normal's: percentile intervals over 2-3 seeds declare twice the nominal rate.
    """
    total = sum(v for v, _ in parts)
    shrunk = sum(v * (k - 1) / k for v, k in parts)
    spread = sum(v * v / (k - 1) for v, k in parts)
    if total <= 0 or shrunk <= 0 or spread <= 0:
        return 1.0, 1.0
    return math.sqrt(total / shrunk), max(1.0, total * total / spread)


def _estimate(matrix: np.ndarray, seeds: list[int], resamples: int, seed: int, level: float) -> SeededEstimate:
    nan = float("nan")
    if matrix.shape[1] == 0:
        return SeededEstimate(nan, nan, nan, tuple(seeds), tuple(nan for _ in seeds), 0)
    per_seed = tuple(float(v) for v in matrix.mean(axis=1))
    mean = float(matrix.mean())
    if matrix.size < 2:
        return SeededEstimate(mean, nan, nan, tuple(seeds), per_seed, matrix.shape[1])
    means = resampled_means(matrix, resamples, np.random.default_rng(seed))
    factor, dof = _widening(_variance_parts(matrix))
    half = float(scipy.stats.t.ppf(0.5 + level / 2.0, dof)) * factor * float(np.std(means))
    return SeededEstimate(mean, mean - half, mean + half, tuple(seeds), per_seed, matrix.shape[1])


def hierarchical_mean(
    values: SeedValues, resamples: int = MEAN_RESAMPLES, seed: int = 0, level: float = LEVEL
) -> SeededEstimate:
    """The mean of one backbone over its seeds and items, with the seeds-then-items bootstrap interval."""
    seeds = sorted(values)
    if not seeds:
        raise ValueError("no seeds to average")
    (matrix,) = _keep_scored(_matrix(values, seeds))
    return _estimate(matrix, seeds, resamples, seed, level)


def paired_difference(
    first: SeedValues, second: SeedValues, resamples: int = MEAN_RESAMPLES, seed: int = 0, level: float = LEVEL
) -> SeededEstimate:
    """``first - second`` on the seeds and items both have, with the seeds-then-items bootstrap interval.

    Seed ``s`` of one backbone is paired with seed ``s`` of the other (the same data order and hints); a seed
    only one of them has (a failed run) is left out.
    """
    seeds = sorted(set(first) & set(second))
    if not seeds:
        raise ValueError("the two backbones share no seed")
    a, b = _matrix(first, seeds), _matrix(second, seeds)
    if a.shape != b.shape:
        raise ValueError("the two backbones were scored on different numbers of items")
    a, b = _keep_scored(a, b)
    return _estimate(a - b, seeds, resamples, seed, level)
