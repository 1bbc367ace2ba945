"""The report's comparison blocks: verdict, results tables with references, pairwise differences, stroke-following.

Every claim here comes from `bench.report.comparison`: ★ and a winner's name appear only where the paired
differences say so at 95 %; otherwise the table says "no clear winner".
"""

from __future__ import annotations

from bench.report import plots
from bench.report.blocks import Cell, Paragraph, Table
from bench.report.comparison import COLOUR_FREE, COUNTERFACTUAL, Comparison, interval, number
from bench.report.data import Group
from bench.results import OK
from eval.metric_specs import spec
from eval.references import REFERENCES
from eval.statistics import SeededEstimate, hierarchical_mean, paired_difference

HEADLINE = "stroke_de"
NO_WINNER = "no clear winner"


def _header(metric: str) -> str:
    return f"{spec(metric).label} {'↑' if spec(metric).higher_is_better else '↓'}"


def _cell(cmp: Comparison, group: Group, eval_set: str, metric: str) -> str:
    estimate = cmp.estimate(group, eval_set, metric)
    if estimate is not None:
        return interval(estimate)
    rows = [cmp.data.at_budget(run, eval_set, metric) for run in group.runs]
    return "unavailable" if any(r is not None and r.status != OK for r in rows) else "-"


def _seeds(group: Group) -> str:
    return ", ".join(str(s) for s in group.seeds)


def results_table(cmp: Comparison, eval_set: str) -> Table:
    """Backbone x metric at the shared budget, reference rows, and each column's clear winner (if any)."""
    data = cmp.data
    metrics = data.metrics(eval_set)
    headers = ["backbone", "checkpoint $", "seeds", "n", *(_header(m) for m in metrics)]
    winners = {m: cmp.winner(eval_set, m) for m in metrics}
    rows = []
    for group in cmp.groups:
        first = group.runs[0]
        name, _step, usd = data.pick(first)
        counts = {r.n for r in first.rows if r.checkpoint == name and r.eval_set == eval_set and r.strokes is None}
        cells = [
            Cell(group.label),
            Cell(plots.dollars(usd)),
            Cell(_seeds(group)),
            Cell("/".join(str(n) for n in sorted(counts)) or "-"),
        ]
        cells += [Cell(_cell(cmp, group, eval_set, m), winners[m] is group) for m in metrics]
        rows.append(cells)
    for reference in cmp.reference_names():
        estimates = [cmp.reference_estimate(reference, eval_set, m) for m in metrics]
        n = next((e.items for e in estimates if e is not None), 0)
        rows.append(
            [Cell(f"reference: {reference}"), Cell("$0"), Cell("-"), Cell(str(n) if n else "-")]
            + [Cell(interval(e, seeds=False)) for e in estimates]
        )
    if len(cmp.groups) > 1:
        verdicts = [winners[m].label if winners[m] is not None else NO_WINNER for m in metrics]
        rows.append([Cell("clear winner (95 %)"), Cell(""), Cell(""), Cell("")] + [Cell(v) for v in verdicts])
    caption = (
        f"{eval_set} at the shared budget of {plots.dollars(data.shared_budget)}: mean over seeds and items "
        "[95 % hierarchical bootstrap interval: seeds, then items], then each seed's own mean; ↑ higher is "
        "better, ↓ lower is better. ★ and the last row name a backbone only where its paired difference to "
        "every other backbone excludes 0 at 95 %."
    )
    if cmp.reference_names():
        caption += " Reference rows cost $0 of training (intervals over items): " + "; ".join(
            f"{name}: {REFERENCES[name][1]}" for name in cmp.reference_names()
        )
    return Table(headers, rows, caption)


def _pairs(cmp: Comparison) -> list[tuple[Group, Group]]:
    groups = cmp.groups
    return [(a, b) for i, a in enumerate(groups) for b in groups[i + 1 :]]


def _verdict(cmp: Comparison, first: str, second: str, difference: SeededEstimate | None, metric: str) -> str:
    """One sentence: who beats whom by how much [95 %], or that there is no clear difference."""
    if difference is None:
        return f"{first} vs {second}: not paired (no per-item scores)"
    if not difference.clear:
        return f"{first} vs {second}: no clear difference ({interval(difference, seeds=False)})"
    winner, loser = (first, second) if cmp.better(difference, metric) else (second, first)
    low, high = sorted((abs(difference.low), abs(difference.high)))
    return f"{winner} beats {loser} by {number(abs(difference.mean))} [{number(low)}, {number(high)}]"


def _short(cmp: Comparison, first: str, second: str, difference: SeededEstimate | None, metric: str) -> str:
    """A table cell: the difference [95 %] and which side is better, where that is clear."""
    if difference is None:
        return "-"
    text = interval(difference, seeds=False)
    if not difference.clear:
        return f"{text}: no clear difference"
    return f"{text}: {first if cmp.better(difference, metric) else second} better"


def pairwise_table(cmp: Comparison, eval_set: str) -> Table | None:
    """Each pair of backbones on every per-image metric: the paired difference [95 %] and which is better."""
    metrics = [m for m in cmp.data.metrics(eval_set) if spec(m).kind == "image"]
    rows = []
    for first, second in _pairs(cmp):
        differences = [cmp.difference(first, second, eval_set, m) for m in metrics]
        if all(d is None for d in differences):
            continue
        cells = [Cell(_short(cmp, first.label, second.label, d, m)) for d, m in zip(differences, metrics, strict=True)]
        rows.append([Cell(f"{first.label} − {second.label}"), *cells])
    if not rows:
        return None
    caption = (
        f"{eval_set}: paired differences on the same seeds and items (first − second) [95 % hierarchical "
        "bootstrap interval]; a side is called better only where the interval excludes 0."
    )
    return Table(["pair", *(_header(m) for m in metrics)], rows, caption)


def references_table(cmp: Comparison, eval_set: str) -> Table | None:
    """Each backbone against each training-free reference on stroke ΔE00 and image ΔE00, paired on items."""
    names = [n for n in cmp.reference_names() if n != "oracle"]
    metrics = [m for m in (HEADLINE, "image_de") if m in cmp.data.metrics(eval_set)]
    if not names or not metrics:
        return None
    rows = []
    for group in cmp.groups:
        cells = [
            Cell(_short(cmp, group.label, name, cmp.versus_reference(group, name, eval_set, m), m))
            for m in metrics
            for name in names
        ]
        rows.append([Cell(group.label), *cells])
    headers = ["backbone", *(f"{_header(m)} − {name}" for m in metrics for name in names)]
    caption = (
        f"{eval_set}: each backbone minus each $0 reference, paired on items (the reference's outputs stand in "
        "every seed) [95 % hierarchical bootstrap interval]."
    )
    return Table(headers, rows, caption)


def verdict(cmp: Comparison, eval_set: str) -> Paragraph:
    """The report's opening sentence pair: who beats whom on stroke ΔE00, and against `propagate`."""
    data = cmp.data
    seeds = sorted({len(g.runs) for g in cmp.groups})
    first = cmp.estimate(cmp.groups[0], eval_set, HEADLINE)
    items = f", {first.items} items" if first is not None else ""
    head = (
        f"Verdict at {plots.dollars(data.shared_budget)} of training on {eval_set} "
        f"({'/'.join(map(str, seeds))} seed{'s' if seeds != [1] else ''} per backbone{items}), stroke ΔE00: "
    )
    parts = [
        _verdict(cmp, a.label, b.label, cmp.difference(a, b, eval_set, HEADLINE), HEADLINE) for a, b in _pairs(cmp)
    ]
    if not parts:
        parts = [f"one backbone only ({cmp.groups[0].label} {interval(first, seeds=False)})"]
    winner = cmp.winner(eval_set, HEADLINE)
    tail = f" Best: {winner.label}." if winner is not None else f" Overall: {NO_WINNER}." if len(cmp.groups) > 1 else ""
    if "propagate" in cmp.reference_names() and "image_de" in data.metrics(eval_set):
        # propagate copies the strokes (stroke ΔE00 0 by construction): the whole image is where it can lose
        against = [
            _verdict(cmp, g.label, "propagate", cmp.versus_reference(g, "propagate", eval_set, "image_de"), "image_de")
            for g in cmp.groups
        ]
        tail += " Against the training-free propagate reference, image ΔE00: " + "; ".join(against) + "."
    return Paragraph(head + "; ".join(parts) + "." + tail)


def stroke_following_table(cmp: Comparison, eval_set: str) -> Table | None:
    """Stroke ΔE00 on the original items, with colour-free captions and with counterfactual strokes, and the
    stroke-following gap (counterfactual − original, paired) per backbone and reference."""
    if not any(r.variant for run in cmp.data.runs for r in run.rows):
        return None
    headers = [
        "backbone",
        "checkpoint $",
        "original",
        "colour-free captions",
        "counterfactual strokes",
        "gap (counterfactual − original)",
    ]
    rows = []
    for group in cmp.groups:
        checkpoint = {cmp.checkpoint(run, COUNTERFACTUAL) for run in group.runs}
        usd = max((r.usd for run in group.runs for r in run.rows if r.checkpoint in checkpoint), default=0.0)
        original = cmp.values(group, eval_set, HEADLINE, "", at=COUNTERFACTUAL)
        estimates = [
            hierarchical_mean(original) if original is not None else None,
            cmp.estimate(group, eval_set, HEADLINE, COLOUR_FREE),
            cmp.estimate(group, eval_set, HEADLINE, COUNTERFACTUAL),
            cmp.gap(group, eval_set),
        ]
        rows.append([Cell(group.label), Cell(plots.dollars(usd))] + [Cell(interval(e)) for e in estimates])
    for reference in cmp.reference_names():
        variants = ("", COLOUR_FREE, COUNTERFACTUAL)
        values = [cmp.reference_values(reference, eval_set, HEADLINE, v) for v in variants]
        estimates = [cmp.reference_estimate(reference, eval_set, HEADLINE, v) for v in variants]
        paired = values[0] is not None and values[2] is not None
        gap = paired_difference({0: values[2]}, {0: values[0]}) if paired else None
        rows.append(
            [Cell(f"reference: {reference}"), Cell("$0")] + [Cell(interval(e, seeds=False)) for e in [*estimates, gap]]
        )
    caption = (
        f"{eval_set}, stroke ΔE00 (lower is better) at each run's newest checkpoint [95 % hierarchical interval]. "
        "Colour-free: the captions without colour words. Counterfactual: every stroke's hue turned 180° in CIE "
        "LCh (lightness and chroma kept), scored against the strokes the model was given, captions unchanged. "
        "A model that follows strokes has a gap near 0; one that paints the caption's colours, a large one."
    )
    return Table(headers, rows, caption)
