"""`bench train`: train one backbone on a dollar budget, with checkpoints at budget marks; resumable."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from bench.core.errors import UserError


def train_command(
    backbone: str = typer.Option(None, "--backbone", help="Backbone to train: sd, cascade, if. [default: sd]"),
    preset: str = typer.Option(None, "--preset", help="tiny (CPU, no download) or full (Hub weights). [default: tiny]"),
    data: str = typer.Option(
        None,
        "--data",
        help=(
            "Training data as KIND:ARG: builtin:shapes or builtin:photos (made offline), folder:PATH (images with "
            ".txt captions or a metadata.jsonl/.csv), hf:NAME[:split] (a Hugging Face dataset), urls:FILE (a "
            "parquet/jsonl/csv/tsv table of image URL + caption, fetched and cached), wds:PATTERN (WebDataset tar "
            "shards). [default: builtin:shapes]"
        ),
    ),
    budget_usd: float = typer.Option(
        None, "--budget-usd", help="Dollars of A10 time to spend ($0.75/h). [default: the preset's]"
    ),
    out: Path = typer.Option(None, "--out", help="Run directory. [default: results/<backbone>-<preset>-<time>]"),
    resume: Path = typer.Option(None, "--resume", help="Continue this run from its newest complete checkpoint."),
    config: Path = typer.Option(None, "--config", help="A TOML file of settings (see bench/presets/tiny.toml)."),
    overrides: list[str] = typer.Option(
        [], "--set", help="section.field=value, e.g. --set optim.lr=1e-5 (repeatable)."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar (for scripts and logs)."),
) -> None:
    """Train a backbone until its dollar budget of A10 time is spent.

    Checkpoints land in RUN/checkpoints/<usd-mark>/ at every 10 % of the budget; Ctrl-C or SIGTERM saves one
    first; `--resume RUN` continues exactly where the newest complete checkpoint stood.
    """
    from bench.config import read_run_config, resolve_config
    from bench.processes import Processes
    from bench.rundir import CONFIG, RunDir, new_run_path
    from bench.train import start_run, train_run, validate_config

    if resume is not None:
        run = RunDir(resume)
        run.require_run()
        cfg = read_run_config(run.file(CONFIG))
        given = {"--backbone": backbone, "--preset": preset, "--data": data, "--config": config, "--out": out}
        clash = [name for name, value in given.items() if value is not None] + (["--set"] if overrides else [])
        if clash:
            raise UserError(f"--resume continues {resume} with its own config; drop {', '.join(clash)}")
        if budget_usd is not None and budget_usd != cfg.budget.usd:
            raise UserError(
                f"{resume} was started with a ${cfg.budget.usd} budget; resume it without --budget-usd "
                "(start a new run for another budget)"
            )
        validate_config(cfg)
        done = run.latest()
        if done is not None and done.usd >= cfg.budget.usd:
            if Processes().is_main:
                typer.echo(f"{resume} already spent its ${cfg.budget.usd} budget ({done.name}); nothing to do")
            return
    else:
        cfg = resolve_config(backbone or None, preset or None, config, overrides)
        if data is not None:
            cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, source=data))
        if budget_usd is not None:
            cfg = dataclasses.replace(cfg, budget=dataclasses.replace(cfg.budget, usd=budget_usd))
        validate_config(cfg)
        # one name for all processes, whatever their clocks say
        out = Processes().from_main(out or new_run_path(cfg.backbone, cfg.preset))
        run = start_run(cfg, out)
    # under accelerate launch every process runs this command; the main one speaks for them
    speaks = Processes().is_main
    if not quiet and speaks:
        typer.echo(f"run directory: {run.path}  (budget ${cfg.budget.usd} of A10 time)")
    result = train_run(cfg, run, resume=resume is not None, quiet=quiet)
    if not speaks:
        raise typer.Exit(130 if result.interrupted else 0)
    where = result.checkpoint.path if result.checkpoint else "none"
    typer.echo(
        f"{'stopped' if result.interrupted else 'done'}: {result.steps} steps, ${result.usd:.6f} spent, "
        f"{result.samples_per_second:.1f} samples/s, data wait {result.data_wait_fraction:.1%}; checkpoint: {where}"
    )
    if result.data_counts:
        from bench.data.skips import describe

        typer.echo(f"data: {describe(result.data_counts)}")
    if result.interrupted:
        typer.echo(f"resume with: bench train --resume {run.path}")
        raise typer.Exit(130)
    if result.samples_file is not None:
        typer.echo(f"samples: {result.samples_file}")
