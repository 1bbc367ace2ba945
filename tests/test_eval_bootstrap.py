"""Bootstrap intervals: seeded, covering the mean, NaN-aware, and usable for set metrics."""

from __future__ import annotations

import numpy as np
import pytest

from eval.bootstrap import bootstrap_mean, bootstrap_set


def test_mean_interval_is_seeded_and_covers_the_mean() -> None:
    values = np.random.default_rng(0).normal(5.0, 1.0, 400)
    first, again = bootstrap_mean(values, seed=3), bootstrap_mean(values, seed=3)
    assert first == again
    assert first.n == 400 and first.mean == pytest.approx(values.mean())
    assert first.low < first.mean < first.high
    # the 95 % interval of a mean is about +-1.96 standard errors wide
    assert first.high - first.low == pytest.approx(2 * 1.96 * values.std() / np.sqrt(400), rel=0.15)


def test_nans_are_left_out_and_tiny_samples_have_no_interval() -> None:
    estimate = bootstrap_mean(np.array([1.0, np.nan, 3.0]))
    assert estimate.n == 2 and estimate.mean == 2.0 and 1.0 <= estimate.low <= estimate.high <= 3.0
    one = bootstrap_mean(np.array([4.0]))
    assert one.n == 1 and one.mean == 4.0 and np.isnan(one.low)
    none = bootstrap_mean(np.array([np.nan]))
    assert none.n == 0 and np.isnan(none.mean)
    constant = bootstrap_mean(np.full(10, 2.0))
    assert constant.low == constant.high == 2.0


def test_set_metric_interval_resamples_items() -> None:
    values = np.arange(50, dtype=float)
    estimate = bootstrap_set(lambda idx: float(values[idx].max()), 50, resamples=30, seed=1)
    assert estimate.mean == 49.0 and estimate.n == 50
    assert estimate.low <= estimate.high <= 49.0
    assert np.isnan(bootstrap_set(lambda idx: 1.0, 1).low)
