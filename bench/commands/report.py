"""`bench report RUN_DIR... --out DIR`: the comparison report (report.md + self-contained report.html)."""

from __future__ import annotations

from pathlib import Path

import typer

from bench.core.errors import UserError


def write_report(run_dirs: list[Path], out: Path, title: str, target_de: float | None = None) -> tuple[Path, Path]:
    """Read the run directories and write ``out/report.md`` (+ plots/) and ``out/report.html``."""
    from bench.report import doc, html, markdown
    from bench.report.data import load_report

    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder")
    data = load_report(list(run_dirs), target_de)
    blocks = doc.build(data, title)
    out.mkdir(parents=True, exist_ok=True)
    return markdown.write(blocks, out), html.write(blocks, out, title)


def report_command(
    run_dirs: list[Path] = typer.Argument(..., help="Evaluated run directories (bench eval) to compare."),
    out: Path = typer.Option(Path("results/report"), "--out", help="Folder for report.md, report.html, plots/."),
    title: str = typer.Option("strokebench: backbones compared per dollar", "--title", help="Report title."),
    target_de: float = typer.Option(
        None, "--target-de", help="Stroke ΔE for the '$ to reach' column. [default: the worst backbone's final ΔE]"
    ),
) -> None:
    """Write the comparison report from run directories only: tables per eval set at equal budget (best
    marked), metric-vs-dollars plots, throughput and cost, stroke adherence curves, sample grids, configs."""
    markdown, page = write_report(list(run_dirs), out, title, target_de)
    typer.echo(f"wrote {markdown} and {page}")
