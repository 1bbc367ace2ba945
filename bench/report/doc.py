"""The report as a list of plain blocks (headings, text, tables, figures, code), built once from `ReportData`.

`bench.report.markdown` and `bench.report.html` only render these blocks, so both files say exactly the same thing.
Blocks hold raw text; each renderer escapes it for its format (the HTML renderer escapes every string).
"""

from __future__ import annotations

import json
import math

from bench.report import plots, sections
from bench.report.blocks import Block, Bullets, Cell, Code, Figure, Heading, Paragraph, Table
from bench.report.comparison import Comparison, number
from bench.report.costs import CostRow, cost_row, report_environment
from bench.report.data import ReportData, RunInfo

#: how to read a metric-vs-dollars figure
CURVES = (
    "a band is one run's 95 % item-bootstrap interval; with several seeds thin lines are the seeds and the bold "
    "line their mean; horizontal lines are the $0 references."
)

__all__ = ["Block", "Bullets", "Code", "Figure", "Heading", "Paragraph", "Table", "build"]


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text).strip("-")[:50] or "set"


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
                Cell(number(per_dollar, 4)),
                Cell(f"{number(c.train_samples_per_s)} ({c.device})"),
                Cell(number(c.sampling_s_per_image)),
                Cell(number(c.sampling_usd_per_1k)),
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
    cmp = Comparison(data)
    headline = data.eval_sets[0]
    blocks.append(sections.verdict(cmp, headline))
    blocks.append(Bullets([_run_line(run) for run in data.runs]))
    cautions = data.notes + data.warnings() + data.unavailable_notes()
    if cautions:
        blocks += [Heading(2, "Read this first"), Bullets(cautions)]

    blocks.append(Heading(2, "Results at equal budget"))
    for eval_set in data.eval_sets:
        blocks += [Heading(3, eval_set), sections.results_table(cmp, eval_set)]
    pairwise = [(s, sections.pairwise_table(cmp, s), sections.references_table(cmp, s)) for s in data.eval_sets]
    if any(table is not None or against is not None for _, table, against in pairwise):
        blocks.append(Heading(2, "Pairwise differences"))
        for eval_set, table, against in pairwise:
            blocks += [Heading(3, eval_set), *(t for t in (table, against) if t is not None)]
    following = sections.stroke_following_table(cmp, headline)
    if following is not None:
        blocks += [Heading(2, "Stroke-following a caption cannot fake"), following]

    blocks.append(Heading(2, "Metric per dollar"))
    for metric, title in (("stroke_de", "Stroke ΔE per dollar"), ("fid", "FID per dollar")):
        png = plots.metric_vs_dollars(data, headline, metric, f"{title} on {headline}")
        if png is not None:
            blocks.append(Figure(f"{metric}-per-dollar.png", png, f"{title} on {headline}; {CURVES}"))
        else:
            reason = next((r.note for run in data.runs for r in run.rows if r.metric == metric and r.note), "")
            blocks.append(Paragraph(f"{title}: not available. {reason}".strip()))
    for eval_set in data.eval_sets:
        png = plots.metrics_panel(data, eval_set, data.metrics(eval_set))
        if png is not None:
            blocks.append(
                Figure(f"metrics-vs-dollars-{_slug(eval_set)}.png", png, f"All metrics vs dollars on {eval_set}.")
            )
        png = plots.bars_at_budget(cmp, eval_set, data.metrics(eval_set))
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
