"""The report as a list of plain blocks (headings, text, tables, figures, code), built once from `ReportData`.

`bench.report.markdown` and `bench.report.html` only render these blocks, so both files say exactly the same thing.
Blocks hold raw text; each renderer escapes it for its format (the HTML renderer escapes every string).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from bench.report import plots
from bench.report.data import CostRow, ReportData, RunInfo, cost_row, report_environment
from bench.results import OK
from eval.metric_specs import spec


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Paragraph:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Cell:
    text: str
    best: bool = False


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Cell]]
    caption: str = ""


@dataclass
class Figure:
    #: file name under the report's ``plots/`` folder
    name: str
    png: bytes
    caption: str
    notes: list[str] = field(default_factory=list)


@dataclass
class Code:
    title: str
    text: str


Block = Heading | Paragraph | Bullets | Table | Figure | Code


def _number(value: float, digits: int = 3) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.{digits}g}"
    return f"{value:.{digits}g}" if abs(value) < 1 else f"{value:.{max(1, digits - 1)}f}"


def _interval(mean: float, low: float, high: float) -> str:
    if math.isnan(low) or math.isnan(high):
        return _number(mean)
    return f"{_number(mean)} [{_number(low)}, {_number(high)}]"


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text).strip("-")[:50] or "set"


def results_table(data: ReportData, eval_set: str) -> Table:
    """Backbone x metric at the shared budget: mean [95 % interval], best per column marked."""
    metrics = data.metrics(eval_set)
    headers = ["backbone", "checkpoint $", "n"] + [
        f"{spec(m).label} {'↑' if spec(m).higher_is_better else '↓'}" for m in metrics
    ]
    best = {m: data.best(eval_set, m) for m in metrics}
    rows = []
    for run in data.runs:
        name, _step, usd = data.pick(run)
        counts = {r.n for r in run.rows if r.checkpoint == name and r.eval_set == eval_set and r.strokes is None}
        cells = [Cell(run.label), Cell(plots.dollars(usd)), Cell("/".join(str(n) for n in sorted(counts)) or "-")]
        for metric in metrics:
            row = data.at_budget(run, eval_set, metric)
            if row is None:
                cells.append(Cell("-"))
            elif row.status != OK:
                cells.append(Cell("unavailable"))
            else:
                cells.append(Cell(_interval(row.mean, row.ci_low, row.ci_high), run.label in best[metric]))
        rows.append(cells)
    caption = (
        f"{eval_set}, each backbone at its checkpoint nearest the shared budget of "
        f"{plots.dollars(data.shared_budget)}: "
        "mean [95 % bootstrap interval]; ↑ higher is better, ↓ lower is better; ★ marks the best in a column "
        "(a lead inside overlapping intervals is not a clear win)."
    )
    return Table(headers, rows, caption)


def cost_table(data: ReportData) -> tuple[Table, list[CostRow]]:
    """Throughput and cost per run."""
    costs = [cost_row(data, run) for run in data.runs]
    target = f"$ to stroke ΔE ≤ {data.target_de:g}" if data.target_de is not None else "$ to target ΔE"
    headers = [
        "backbone",
        "budget $",
        "spent $",
        "steps",
        "steps per $",
        "train samples/s",
        "sampling s/image",
        "sampling $ per 1k images",
        target,
        "budget method",
    ]
    rows = []
    for c in costs:
        per_dollar = c.steps / c.spent_usd if c.spent_usd and not math.isnan(c.spent_usd) else math.nan
        reach = plots.dollars(c.usd_to_target) if c.usd_to_target is not None else "not reached"
        rows.append(
            [
                Cell(c.label),
                Cell(plots.dollars(c.budget_usd)),
                Cell(plots.dollars(c.spent_usd)),
                Cell(str(c.steps)),
                Cell(_number(per_dollar, 4)),
                Cell(f"{_number(c.train_samples_per_s)} ({c.device})"),
                Cell(_number(c.sampling_s_per_image)),
                Cell(_number(c.sampling_usd_per_1k)),
                Cell(reach),
                Cell(c.method),
            ]
        )
    caption = (
        "Training samples/s and sampling seconds are measured on the machine named (not an A10); dollars are A10 "
        "dollars by each run's budget method. Steps per $ = optimizer steps / dollars spent."
    )
    return Table(headers, rows, caption), costs


def _run_line(run: RunInfo) -> str:
    budget = float(run.config.get("budget", {}).get("usd", math.nan))
    sampling = run.config.get("eval", {})
    steps, guidance = sampling.get("steps"), sampling.get("guidance")
    sampled = f"sampled in {steps} step{'s' if steps != 1 else ''} at guidance {guidance}, " if steps else ""
    return (
        f"{run.label}: {run.backbone} ({run.preset} preset), budget {plots.dollars(budget)}, {sampled}"
        f"{len(run.checkpoints())} evaluated checkpoints, run directory {run.path}"
    )


def build(data: ReportData, title: str) -> list[Block]:
    """Every block of the report, in reading order."""
    blocks: list[Block] = [Heading(1, title)]
    blocks.append(
        Paragraph(
            "Which diffusion backbone colours line drawings from a user's colour strokes best per dollar of A10 GPU "
            "time? Each run below trained one backbone on the same data, hints and dollar budget; every checkpoint "
            "was sampled on the same fixed eval items with the same seeds and scored by the same code."
        )
    )
    blocks.append(Bullets([_run_line(run) for run in data.runs]))
    cautions = data.warnings() + data.unavailable_notes()
    if cautions:
        blocks += [Heading(2, "Read this first"), Bullets(cautions)]

    headline = data.eval_sets[0]
    blocks.append(Heading(2, "Results at equal budget"))
    for eval_set in data.eval_sets:
        blocks += [Heading(3, eval_set), results_table(data, eval_set)]

    blocks.append(Heading(2, "Metric per dollar"))
    for metric, title in (("stroke_de", "Stroke ΔE per dollar"), ("fid", "FID per dollar")):
        png = plots.metric_vs_dollars(data, headline, metric, f"{title} on {headline}")
        if png is not None:
            blocks.append(
                Figure(f"{metric}-per-dollar.png", png, f"{title} on {headline}; bands are 95 % bootstrap intervals.")
            )
        else:
            reason = next((r.note for run in data.runs for r in run.rows if r.metric == metric and r.note), "")
            blocks.append(Paragraph(f"{title}: not available. {reason}".strip()))
    for eval_set in data.eval_sets:
        png = plots.metrics_panel(data, eval_set, data.metrics(eval_set))
        if png is not None:
            blocks.append(
                Figure(f"metrics-vs-dollars-{_slug(eval_set)}.png", png, f"All metrics vs dollars on {eval_set}.")
            )
        png = plots.bars_at_budget(data, eval_set, data.metrics(eval_set))
        if png is not None:
            blocks.append(Figure(f"bars-{_slug(eval_set)}.png", png, f"{eval_set} at the shared budget."))

    table, _ = cost_table(data)
    blocks += [Heading(2, "Throughput and cost"), table]

    png = plots.adherence_plot(data)
    if png is not None:
        blocks += [
            Heading(2, "Stroke adherence"),
            Figure(
                "adherence.png",
                png,
                f"Stroke ΔE and share of stroke pixels under one JND on {headline} with 1 to "
                f"{max(data.adherence_strokes())} strokes per image.",
            ),
        ]

    blocks.append(Heading(2, "Samples"))
    for eval_set in data.eval_sets:
        grid = plots.sample_grid(data, eval_set)
        if grid is not None:
            png, captions = grid
            notes = [f"item {i + 1}: {caption or '(no caption)'}" for i, caption in enumerate(captions)]
            blocks.append(
                Figure(
                    f"samples-{_slug(eval_set)}.png",
                    png,
                    f"{eval_set}: the same eval items for every backbone, each at its shared-budget checkpoint.",
                    notes,
                )
            )

    blocks.append(Heading(2, "Configs and versions"))
    blocks.append(
        Code("report: eval and plotting versions", "\n".join(f"{k} = {v}" for k, v in report_environment().items()))
    )
    for run in data.runs:
        blocks.append(Code(f"{run.label}: {run.path / 'config.toml'}", run.config_text))
        blocks.append(Code(f"{run.label}: environment (env.json)", json.dumps(run.env, indent=1)))
        blocks.append(Code(f"{run.label}: budget (budget.json)", json.dumps(run.budget, indent=1)))
    return blocks
