"""`bench run`: the whole benchmark in one command: train each backbone on the same budget, evaluate, report.

Every backbone gets its own run directory ``OUT/<backbone>/``, all from the same preset, data and overrides,
differing only in the backbone. Re-running the command resumes what exists: a finished run is kept, a stopped
one continues from its newest checkpoint, evaluation skips what is scored, and the report is rewritten into
``OUT/report/``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bench.core.errors import UserError

if TYPE_CHECKING:
    from bench.config import RunConfig

DEFAULT_BACKBONES = "sd,cascade,if"


def _backbone_names(text: str) -> list[str]:
    """The comma-separated backbone list, validated against the registry before any work starts."""
    from backbones import backbone_names

    names = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not names:
        raise UserError("--backbones is empty; give e.g. --backbones sd,cascade,if")
    unknown = [name for name in names if name not in backbone_names()]
    if unknown:
        raise UserError(f"unknown backbone {', '.join(map(repr, unknown))} (valid: {', '.join(backbone_names())})")
    return names


@dataclasses.dataclass
class _Planned:
    """One backbone's run: its directory, config, and whether it is new, to resume, or done."""

    backbone: str
    path: Path
    cfg: RunConfig
    state: str  # "new", "resume" or "done"


def _plan(backbone: str, out: Path, preset: str, budget_usd: float | None, overrides: list[str]) -> _Planned:
    """Decide what to do with one backbone's run directory, validating its config (nothing is written)."""
    from bench.config import read_run_config, resolve_config
    from bench.rundir import CONFIG, RunDir
    from bench.train import validate_config

    run = RunDir(out / backbone)
    if run.is_run():
        cfg = read_run_config(run.file(CONFIG))
        if budget_usd is not None and cfg.budget.usd != budget_usd:
            raise UserError(
                f"{run.path} was trained with a ${cfg.budget.usd} budget, not ${budget_usd}; use another --out "
                "to compare at a new budget"
            )
        done = run.latest()
        state = "done" if done is not None and done.usd >= cfg.budget.usd else "resume"
    else:
        cfg = resolve_config(backbone, preset, None, overrides)
        if budget_usd is not None:
            cfg = dataclasses.replace(cfg, budget=dataclasses.replace(cfg.budget, usd=budget_usd))
        state = "new"
    validate_config(cfg)
    return _Planned(backbone, run.path, cfg, state)


def _train(planned: _Planned, quiet: bool) -> None:
    """Train, resume or keep one planned run."""
    from bench.rundir import RunDir
    from bench.train import start_run, train_run

    if planned.state == "done":
        typer.echo(f"{planned.backbone}: {planned.path} already spent its ${planned.cfg.budget.usd} budget; kept")
        return
    if planned.state == "new":
        run = start_run(planned.cfg, planned.path)
        typer.echo(f"{planned.backbone}: training {run.path} on ${planned.cfg.budget.usd} of A10 time")
    else:
        run = RunDir(planned.path)
        typer.echo(f"{planned.backbone}: resuming {run.path}")
    result = train_run(planned.cfg, run, resume=planned.state == "resume", quiet=quiet)
    if result.interrupted:
        typer.echo(f"{planned.backbone}: stopped at ${result.usd:.6g}; run the same command again to resume")
        raise typer.Exit(130)
    typer.echo(
        f"{planned.backbone}: {result.steps} steps, ${result.usd:.6g} spent, {result.samples_per_second:.1f} samples/s"
    )


def run_command(
    backbones: str = typer.Option(DEFAULT_BACKBONES, "--backbones", help="Comma-separated backbones to compare."),
    budget_usd: float = typer.Option(
        None, "--budget-usd", help="Dollars of A10 time per backbone ($0.75/h). [default: the preset's]"
    ),
    out: Path = typer.Option(Path("results/benchmark"), "--out", help="Folder for the run directories and report."),
    preset: str = typer.Option("tiny", "--preset", help="tiny (CPU, no download) or full (Hub weights)."),
    overrides: list[str] = typer.Option([], "--set", help="section.field=value for every run (repeatable)."),
    eval_sets: list[str] = typer.Option([], "--eval-set", help="Another eval set, e.g. folder:PATH (repeatable)."),
    photos: bool = typer.Option(True, "--photos/--no-photos", help="Also score builtin:photos."),
    adherence: str = typer.Option(
        "1,2,4,8,16", "--adherence-strokes", help="Strokes per image of the adherence curve."
    ),
    eval_checkpoints: int = typer.Option(
        5, "--eval-checkpoints", help="Checkpoints evaluated per run, evenly spread, newest included (0 = all)."
    ),
    weights_dir: Path = typer.Option(None, "--weights-dir", help="Folder with local LPIPS / FID weight files."),
    title: str = typer.Option("strokebench: backbones compared per dollar", "--title", help="Report title."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Train every backbone on the same dollar budget (resuming what exists), evaluate all checkpoints, and
    write OUT/report/report.md and report.html. Existing runs keep their own config (--set applies to new ones)."""
    from bench.commands.eval import EvalOptions, evaluate_runs, parse_strokes
    from bench.commands.report import write_report

    names = _backbone_names(backbones)
    if budget_usd is not None and budget_usd <= 0:
        raise UserError(f"the budget must be more than $0, got ${budget_usd}")
    options = EvalOptions(
        max_checkpoints=eval_checkpoints,
        eval_sets=tuple(eval_sets),
        photos=photos,
        adherence=parse_strokes(adherence),
        weights_dir=weights_dir,
        quiet=quiet,
    )
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder")
    plans = [_plan(name, out, preset, budget_usd, list(overrides)) for name in names]  # all checked first
    for planned in plans:
        _train(planned, quiet)
    runs = [planned.path for planned in plans]
    evaluate_runs(runs, options)
    markdown, page = write_report(runs, out / "report", title)
    typer.echo(f"report: {markdown} and {page}")
