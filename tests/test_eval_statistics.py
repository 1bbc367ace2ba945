"""Hierarchical bootstrap over seeds and items on synthetic data with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from eval.statistics import hierarchical_mean, paired_difference

SEEDS, ITEMS = 4, 30


def _experiment(rng: np.random.Generator, shift: float) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Two backbones on the same items: shared item difficulty, a per-backbone item effect, seed effects, noise."""
    difficulty = rng.normal(0, 3, ITEMS)

    def backbone(offset: float) -> dict[int, np.ndarray]:
        affinity = rng.normal(0, 1, ITEMS)
        return {s: offset + difficulty + affinity + rng.normal(0, 0.5) + rng.normal(0, 1, ITEMS) for s in range(SEEDS)}

    return backbone(shift), backbone(0.0)


def test_a_real_difference_is_found_and_its_size_is_covered() -> None:
    rng = np.random.default_rng(1)
    first, second = _experiment(rng, 3.0)
    difference = paired_difference(first, second, seed=0)
    assert difference.clear and difference.low > 0
    assert difference.low < 3.0 < difference.high
    assert difference.seeds == (0, 1, 2, 3) and difference.items == ITEMS


def test_a_null_difference_is_declared_at_about_the_nominal_rate() -> None:
    rng = np.random.default_rng(2)
    experiments = 200
    declared = sum(paired_difference(*_experiment(rng, 0.0), resamples=1000, seed=e).clear for e in range(experiments))
    # 5 % of 200 is 10; three binomial standard deviations either side
    tolerance = 3 * math.sqrt(experiments * 0.05 * 0.95)
    assert abs(declared - 10) <= tolerance, declared


def test_mean_and_per_seed_values() -> None:
    values = {0: np.array([1.0, 2.0, 3.0]), 7: np.array([3.0, 4.0, 5.0])}
    estimate = hierarchical_mean(values, seed=0)
    assert estimate.mean == pytest.approx(3.0) and estimate.per_seed == (2.0, 4.0) and estimate.seeds == (0, 7)
    assert estimate.low < 3.0 < estimate.high
    assert hierarchical_mean(values, seed=0) == estimate  # seeded: same data, same interval


def test_items_without_a_score_and_unshared_seeds_are_left_out() -> None:
    first = {0: np.array([1.0, np.nan, 3.0, 5.0]), 1: np.array([2.0, 0.0, 4.0, 6.0]), 2: np.zeros(4)}
    second = {0: np.zeros(4), 1: np.array([1.0, 1.0, np.nan, 1.0])}
    difference = paired_difference(first, second)
    assert difference.seeds == (0, 1) and difference.items == 2  # items 1 and 2 lack a score somewhere
    assert difference.mean == pytest.approx((1 + 5 + 1 + 5) / 4)
    single = hierarchical_mean({3: np.array([2.0])})
    assert single.mean == 2.0 and math.isnan(single.low)
