"""The report's figures as PNG bytes (matplotlib, Agg): metric vs dollars, bars at the shared budget,
stroke adherence curves and labelled sample grids.

Every figure has labelled axes with units and a legend, uses one colour per run throughout the report, and is
laid out by matplotlib's constrained layout so nothing overlaps.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from bench.report.comparison import Comparison  # noqa: E402
from bench.report.data import ReportData, RunInfo  # noqa: E402
from bench.sample_store import INPUTS, read_png, set_slug  # noqa: E402
from eval.metric_specs import spec  # noqa: E402

DPI = 110
COLOURS = plt.get_cmap("tab10").colors


def _png(figure: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    plt.close(figure)
    return buffer.getvalue()


def colour(data: ReportData, run: RunInfo) -> tuple[float, ...]:
    """The colour of the run's backbone (its group), the same in every figure."""
    index = next(i for i, group in enumerate(data.groups) if run in group.runs)
    return COLOURS[index % len(COLOURS)]


def dollars(value: float, _position: object = None) -> str:
    """A dollar amount as a short tick label ($0.00002, $1.5)."""
    if value == 0:
        return "$0"
    return "$" + np.format_float_positional(value, precision=2, unique=True, fractional=False, trim="-")


def axis_label(metric: str) -> str:
    s = spec(metric)
    direction = "higher is better" if s.higher_is_better else "lower is better"
    return f"{s.label} ({s.unit}; {direction})" if s.unit else f"{s.label} ({direction})"


def _dollar_axis(axes: plt.Axes) -> None:
    axes.xaxis.set_major_formatter(FuncFormatter(dollars))
    axes.xaxis.set_major_locator(MaxNLocator(4))
    axes.set_xlabel("training cost (A10 dollars)")
    axes.grid(alpha=0.3)


def _plot_curve(axes: plt.Axes, data: ReportData, eval_set: str, metric: str) -> bool:
    """One line per backbone: its run's curve with interval band, or with several seeds their mean over seeds
    (bold) over each seed's own curve (thin), then the reference rows as dashed horizontal lines."""
    drew = False
    for group in data.groups:
        curves = [run.curve(eval_set, metric) for run in group.runs]
        curves = [rows for rows in curves if rows]
        if not curves:
            continue
        tint = colour(data, group.runs[0])
        if len(curves) == 1:
            rows = curves[0]
            x = [r.usd for r in rows]
            axes.plot(x, [r.mean for r in rows], marker="o", ms=3, color=tint, label=group.label)
            low, high = [r.ci_low for r in rows], [r.ci_high for r in rows]
            if not any(math.isnan(v) for v in low + high):
                axes.fill_between(x, low, high, color=tint, alpha=0.18, linewidth=0)
        else:
            for rows in curves:
                axes.plot([r.usd for r in rows], [r.mean for r in rows], color=tint, alpha=0.35, linewidth=0.8)
            marks = sorted(
                {r.checkpoint for r in curves[0]} & set.intersection(*({r.checkpoint for r in c} for c in curves))
            )
            by_mark = [[next(r for r in rows if r.checkpoint == m) for rows in curves] for m in marks]
            by_mark.sort(key=lambda rows: rows[0].usd)
            axes.plot(
                [float(np.mean([r.usd for r in rows])) for rows in by_mark],
                [float(np.mean([r.mean for r in rows])) for rows in by_mark],
                marker="o",
                ms=3,
                linewidth=2,
                color=tint,
                label=f"{group.label} (mean of {len(curves)} seeds)",
            )
        drew = True
    if drew and data.references is not None:
        from eval.references import REFERENCES

        levels: dict[float, list[str]] = {}  # references at the same level share one line and one label
        for name in REFERENCES:
            row = data.references.value(name, eval_set, metric)
            if row is not None and row.status == "ok" and not math.isnan(row.mean):
                levels.setdefault(round(row.mean, 6), []).append(name)
        styles = ("--", ":", "-.", (0, (5, 1)))
        for k, (level, names) in enumerate(sorted(levels.items())):
            axes.axhline(
                level,
                color="0.35",
                linestyle=styles[k % len(styles)],
                linewidth=1,
                label=f"reference: {', '.join(names)}",
            )
    return drew


def metric_vs_dollars(data: ReportData, eval_set: str, metric: str, title: str) -> bytes | None:
    """One metric over training dollars, one line per run, 95 % interval bands; None if nothing to plot."""
    figure, axes = plt.subplots(figsize=(6.4, 4.0), layout="constrained")
    if not _plot_curve(axes, data, eval_set, metric):
        plt.close(figure)
        return None
    _dollar_axis(axes)
    axes.set_ylabel(axis_label(metric))
    axes.set_title(title)
    axes.legend(title="backbone", fontsize="small")
    return _png(figure)


def metrics_panel(data: ReportData, eval_set: str, metrics: list[str]) -> bytes | None:
    """Every available metric over dollars, one panel each, on one eval set."""
    drawable = [m for m in metrics if any(run.curve(eval_set, m) for run in data.runs)]
    if not drawable:
        return None
    cols = min(3, len(drawable))
    rows = math.ceil(len(drawable) / cols)
    figure, grid = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), layout="constrained", squeeze=False)
    for axes, metric in zip(grid.flat, drawable, strict=False):
        _plot_curve(axes, data, eval_set, metric)
        _dollar_axis(axes)
        axes.set_ylabel(axis_label(metric), fontsize="small")
        axes.set_title(spec(metric).label)
    for axes in list(grid.flat)[len(drawable) :]:
        axes.set_visible(False)
    handles, labels = grid.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=max(1, len(labels)), title="backbone")
    figure.suptitle(f"Metrics vs training dollars on {eval_set} (bands: 95 % bootstrap intervals)")
    return _png(figure)


def bars_at_budget(cmp: Comparison, eval_set: str, metrics: list[str]) -> bytes | None:
    """Each metric at the shared budget as bars (one per backbone) with 95 % hierarchical interval whiskers."""
    data = cmp.data
    estimates = {(g.label, m): cmp.estimate(g, eval_set, m) for g in data.groups for m in metrics}
    drawable = [m for m in metrics if any(estimates[(g.label, m)] is not None for g in data.groups)]
    if not drawable:
        return None
    cols = min(3, len(drawable))
    rows = math.ceil(len(drawable) / cols)
    figure, grid = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.1 * rows), layout="constrained", squeeze=False)
    for axes, metric in zip(grid.flat, drawable, strict=False):
        for i, group in enumerate(data.groups):
            estimate = estimates[(group.label, metric)]
            if estimate is None or math.isnan(estimate.mean):
                continue
            error = None
            if not (math.isnan(estimate.low) or math.isnan(estimate.high)):
                error = [[max(0.0, estimate.mean - estimate.low)], [max(0.0, estimate.high - estimate.mean)]]
            axes.bar(i, estimate.mean, yerr=error, capsize=4, color=colour(data, group.runs[0]), label=group.label)
        axes.set_xticks(range(len(data.groups)), [g.label for g in data.groups], fontsize="small")
        axes.set_ylabel(axis_label(metric), fontsize="small")
        axes.set_title(spec(metric).label)
        axes.grid(axis="y", alpha=0.3)
    for axes in list(grid.flat)[len(drawable) :]:
        axes.set_visible(False)
    figure.suptitle(
        f"{eval_set} at the shared budget ({dollars(data.shared_budget)}); whiskers: 95 % hierarchical intervals"
    )
    return _png(figure)


def adherence_plot(data: ReportData) -> bytes | None:
    """Stroke ΔE and the share of stroke pixels under one JND against strokes per image, one line per backbone."""
    if not data.adherence_strokes():
        return None
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    for axes, metric in ((left, "stroke_de"), (right, "stroke_jnd_share")):
        for group in data.groups:  # one run: its line and band; several seeds: thin seeds, bold mean
            curves = [rows for rows in (data.adherence(run, metric) for run in group.runs) if rows]
            if not curves:
                continue
            tint = colour(data, group.runs[0])
            for rows in curves if len(curves) > 1 else []:
                axes.plot([r.strokes for r in rows], [r.mean for r in rows], color=tint, alpha=0.35, linewidth=0.8)
            counts = sorted(set.intersection(*({r.strokes for r in rows} for rows in curves)))
            means = [float(np.mean([r.mean for rows in curves for r in rows if r.strokes == k])) for k in counts]
            label = group.label if len(curves) == 1 else f"{group.label} (mean of {len(curves)} seeds)"
            axes.plot(counts, means, marker="o", color=tint, linewidth=2 if len(curves) > 1 else 1.5, label=label)
            low, high = [r.ci_low for r in curves[0]], [r.ci_high for r in curves[0]]
            if len(curves) == 1 and not any(math.isnan(v) for v in low + high):
                axes.fill_between([r.strokes for r in curves[0]], low, high, color=tint, alpha=0.18, linewidth=0)
        axes.set_xscale("log", base=2)
        axes.set_xticks(data.adherence_strokes(), [str(k) for k in data.adherence_strokes()])
        axes.set_xlabel("strokes per image")
        axes.set_ylabel(axis_label(metric))
        axes.grid(alpha=0.3)
    left.legend(title="backbone", fontsize="small")
    figure.suptitle("Stroke adherence: colour fidelity as users give more strokes (newest checkpoint)")
    return _png(figure)


def sample_grid(data: ReportData, eval_set: str, items: int = 6) -> tuple[bytes, list[str]] | None:
    """Rows of eval items: hint | target | each run's output at the shared budget; plus the rows' captions."""
    import json

    first = data.runs[0]
    inputs = first.path / "samples" / "eval" / set_slug(eval_set) / INPUTS
    listing_file = inputs / "items.json"
    if not listing_file.is_file():
        return None
    listing = json.loads(listing_file.read_text(encoding="utf-8"))
    count = min(items, len(listing["keys"]))
    columns: list[tuple[str, list[Path]]] = [
        ("hint (edges + strokes)", [inputs / f"{i:04d}-hint.png" for i in range(count)]),
        ("target", [inputs / f"{i:04d}-target.png" for i in range(count)]),
    ]
    for group in data.groups:  # each backbone's first seed
        run = group.runs[0]
        folder = run.path / "samples" / "eval" / set_slug(eval_set)
        own = folder / INPUTS / "items.json"
        same = own.is_file() and json.loads(own.read_text(encoding="utf-8")).get("keys") == listing["keys"]
        # a run scored on other items (other data settings) shows no pictures rather than unrelated ones
        paths = [folder / data.pick(run)[0] / f"{i:04d}.png" if same else Path("/nonexistent") for i in range(count)]
        columns.append((run.label, paths))
    if count == 0:
        return None
    figure, grid = plt.subplots(
        count, len(columns), figsize=(1.7 * len(columns), 1.75 * count), layout="constrained", squeeze=False
    )
    for c, (title, paths) in enumerate(columns):
        for r, path in enumerate(paths):
            axes = grid[r][c]
            axes.set_xticks([])
            axes.set_yticks([])
            if path.is_file():
                axes.imshow(read_png(path), interpolation="nearest")
            else:
                axes.text(0.5, 0.5, "not sampled", ha="center", va="center", fontsize="small")
            if r == 0:
                axes.set_title(title, fontsize="small")
            if c == 0:
                axes.set_ylabel(f"item {r + 1}", fontsize="small")
    return _png(figure), [str(c) for c in listing["captions"][:count]]
