"""Backbones compared as a researcher can trust: seeds grouped, hierarchical intervals, paired differences.

Runs of one backbone that differ only in their seed form one group. A group's score on an eval set is the
mean over its seeds and items with the seeds-then-items bootstrap interval of `eval.statistics`, computed from
the per-item scores each run saved beside its samples; two groups are compared by the paired difference on the
seeds and items both have. A group is marked best only where every one of its paired differences is clear at
95 % in its favour; reference rows (`eval.references`, $0 of training) are paired with a group as the same
outputs in every seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from bench.report.data import Group, ReportData, RunInfo
from bench.results import OK, EvalRow
from bench.sample_store import read_scores
from eval.metric_specs import spec
from eval.statistics import SeededEstimate, hierarchical_mean, paired_difference

#: the eval.csv variants of the stroke-following table, in reading order
COLOUR_FREE, COUNTERFACTUAL = "colour-free", "counterfactual"
NAN = float("nan")


def _row_estimate(row: EvalRow, seed: int) -> SeededEstimate:
    return SeededEstimate(row.mean, row.ci_low, row.ci_high, (seed,), (row.mean,), row.n)


@dataclass
class Comparison:
    """Estimates and paired differences of the report's groups (and references), computed once each."""

    data: ReportData
    _cache: dict[tuple[object, ...], object] = field(default_factory=dict, repr=False)

    def checkpoint(self, run: RunInfo, variant: str = "") -> str:
        """The checkpoint a run is read at: the shared budget's, or for variants the newest that has them."""
        if variant:
            rows = [r for r in run.rows if r.variant == variant]
            return max(rows, key=lambda r: r.usd).checkpoint if rows else ""
        return self.data.pick(run)[0]

    def values(self, group: Group, eval_set: str, metric: str, variant: str = "", at: str = "") -> dict | None:
        """Seed -> per-item scores of a group (None unless every run saved them), at its shared-budget pick
        or, with ``at`` = a variant name, at the checkpoint that variant was scored at."""
        found = {}
        for run in group.runs:
            held = read_scores(run.path, eval_set, self.checkpoint(run, at or variant), None, variant)
            if held is None or metric not in held[1]:
                return None
            found[run.seed] = held[1][metric]
        return found

    @property
    def groups(self) -> list[Group]:
        return self.data.groups

    def reference_names(self) -> list[str]:
        """The references the report was given, in `eval.references` order."""
        from eval.references import REFERENCES

        held = {r.checkpoint for r in self.data.references.rows} if self.data.references is not None else set()
        return [name for name in REFERENCES if name in held]

    def reference_values(self, name: str, eval_set: str, metric: str, variant: str = "") -> np.ndarray | None:
        run = self.data.references
        held = read_scores(run.path, eval_set, name, None, variant) if run is not None else None
        return held[1].get(metric) if held is not None else None

    def estimate(self, group: Group, eval_set: str, metric: str, variant: str = "") -> SeededEstimate | None:
        """The group's mean [hierarchical interval] and per-seed values; eval.csv's row where no scores were
        saved (older runs, set metrics such as FID): one seed's interval, or seeds' mean without one."""
        key = ("estimate", group.label, eval_set, metric, variant)
        if key not in self._cache:
            values = self.values(group, eval_set, metric, variant)
            if values is not None:
                self._cache[key] = hierarchical_mean(values)
            else:
                rows = [(run, self._row(run, eval_set, metric, variant)) for run in group.runs]
                rows = [(run, row) for run, row in rows if row is not None and row.status == OK]
                if not rows:
                    self._cache[key] = None
                elif len(rows) == 1:
                    self._cache[key] = _row_estimate(rows[0][1], rows[0][0].seed)
                else:
                    means = tuple(row.mean for _, row in rows)
                    seeds = tuple(run.seed for run, _ in rows)
                    self._cache[key] = SeededEstimate(float(np.mean(means)), NAN, NAN, seeds, means, rows[0][1].n)
        return self._cache[key]  # type: ignore[return-value]

    def _row(self, run: RunInfo, eval_set: str, metric: str, variant: str) -> EvalRow | None:
        return run.value(self.checkpoint(run, variant), eval_set, metric, None, variant)

    def reference_estimate(self, name: str, eval_set: str, metric: str, variant: str = "") -> SeededEstimate | None:
        run = self.data.references
        row = run.value(name, eval_set, metric, None, variant) if run is not None else None
        return _row_estimate(row, 0) if row is not None and row.status == OK else None

    def difference(self, first: Group, second: Group, eval_set: str, metric: str) -> SeededEstimate | None:
        """``first - second`` paired on seeds and items at the shared budget, or None without per-item scores."""
        key = ("difference", first.label, second.label, eval_set, metric)
        if key not in self._cache:
            a, b = self.values(first, eval_set, metric), self.values(second, eval_set, metric)
            shared = a is not None and b is not None and set(a) & set(b)
            same = shared and len(next(iter(a.values()))) == len(next(iter(b.values())))  # type: ignore[union-attr]
            self._cache[key] = paired_difference(a, b) if same else None  # type: ignore[arg-type]
        return self._cache[key]  # type: ignore[return-value]

    def versus_reference(self, group: Group, name: str, eval_set: str, metric: str) -> SeededEstimate | None:
        """``group - reference`` paired on items, the reference's outputs standing in every seed."""
        values, reference = self.values(group, eval_set, metric), self.reference_values(name, eval_set, metric)
        if values is None or reference is None or len(reference) != len(next(iter(values.values()))):
            return None
        return paired_difference(values, {seed: reference for seed in values})

    def better(self, difference: SeededEstimate, metric: str) -> bool:
        """Whether a clear difference ``first - second`` favours ``first``."""
        return difference.clear and (difference.low > 0) == spec(metric).higher_is_better

    def winner(self, eval_set: str, metric: str) -> Group | None:
        """The group better than every other at 95 % (every paired interval excludes 0 its way), or None."""
        if len(self.groups) < 2:
            return None
        for group in self.groups:
            others = [g for g in self.groups if g is not group]
            differences = [self.difference(group, other, eval_set, metric) for other in others]
            if all(d is not None and self.better(d, metric) for d in differences):
                return group
        return None

    def gap(self, group: Group, eval_set: str, metric: str = "stroke_de") -> SeededEstimate | None:
        """Counterfactual minus original, paired on seeds and items at the checkpoint the variants were scored."""
        counterfactual = self.values(group, eval_set, metric, COUNTERFACTUAL)
        original = self.values(group, eval_set, metric, "", at=COUNTERFACTUAL)
        if counterfactual is None or original is None:
            return None
        return paired_difference(counterfactual, original)


def number(value: float, digits: int = 3) -> str:
    """A number in a table: a few significant digits, "n/a" for NaN."""
    if value is None or math.isnan(value):
        return "n/a"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.{digits}g}"
    return f"{value:.{digits}g}" if abs(value) < 1 else f"{value:.{max(1, digits - 1)}f}"


def interval(estimate: SeededEstimate | None, seeds: bool = True) -> str:
    """``mean [low, high]``, plus each seed's value where there are several."""
    if estimate is None:
        return "-"
    text = number(estimate.mean)
    if not (math.isnan(estimate.low) or math.isnan(estimate.high)):
        text += f" [{number(estimate.low)}, {number(estimate.high)}]"
    if seeds and len(estimate.seeds) > 1:
        text += " · seeds " + ", ".join(number(v) for v in estimate.per_seed)
    return text
