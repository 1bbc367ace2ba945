"""`bench report RUN_DIR... --out DIR`: the comparison report (report.md + self-contained report.html)."""

from __future__ import annotations

from pathlib import Path

import typer

from bench.core.errors import UserError
from bench.rundir import REPORT, RESULTS


def write_report(
    run_dirs: list[Path], out: Path, title: str, target_de: float | None = None, references: Path | None = None
) -> tuple[Path, Path]:
    """Read the run directories (and the reference rows `bench.references.evaluate_references` wrote into
    ``references``) and write ``out/report.md`` (+ plots/) and ``out/report.html``."""
    from bench.report import doc, html, markdown
    from bench.report.data import load_report

    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder")
    data = load_report(list(run_dirs), target_de, references)
    blocks = doc.build(data, title)
    out.mkdir(parents=True, exist_ok=True)
    return markdown.write(blocks, out), html.write(blocks, out, title)


def report_command(
    run_dirs: list[Path] = typer.Argument(..., help="Evaluated run directories (bench eval) to compare."),
    out: Path = typer.Option(RESULTS / REPORT, "--out", help="Folder for report.md, report.html, plots/."),
    title: str = typer.Option("strokebench: backbones compared per dollar", "--title", help="Report title."),
    target_de: float = typer.Option(
        None, "--target-de", help="Stroke ΔE for the '$ to reach' column. [default: the worst backbone's final ΔE]"
    ),
    references: Path = typer.Option(
        None, "--references", help="Folder of reference rows written by bench eval --references (e.g. OUT/references)."
    ),
) -> None:
    """Write the comparison report from run directories only: a verdict, tables per eval set at equal budget
    (seeds grouped per backbone, hierarchical intervals, best marked only where every paired difference is clear
    at 95 %), pairwise differences, reference rows, stroke-following with colour-free captions and counterfactual
    strokes, metric-vs-dollars plots, throughput and cost, stroke adherence curves, sample grids, configs."""
    markdown, page = write_report(list(run_dirs), out, title, target_de, references)
    typer.echo(f"wrote {markdown} and {page}")
