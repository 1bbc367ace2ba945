"""`bench eval RUN_DIR...`: sample the fixed eval sets with each checkpoint, score them, append to eval.csv.

This module is the glue between a run directory and the backbone-agnostic harness in `eval/`: it reads the
run's config, builds the eval sets (`bench.data.eval_split.eval_batches`: fixed hints, fixed seeds), loads each
checkpoint's trainable weights into the run's backbone and hands the harness a sampling *function*
(`bench.sampling.sample_batch` with the run's eval settings). Everything already scored is skipped unless
``--force``; saved sample PNGs are re-scored instead of re-sampled when only a metric is missing (e.g. after
the LPIPS weights were installed). Planning lives in `bench.eval_plan`, sampling and scoring in
`bench.eval_jobs`, the $0 reference rows in `bench.references`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from bench.core.errors import UserError
from bench.eval_plan import DEFAULT_ADHERENCE, EvalOptions, ItemCache, plan_jobs, scorer_key, validate_run

if TYPE_CHECKING:
    from bench.config import RunConfig
    from eval.harness import Scorer

__all__ = ["DEFAULT_ADHERENCE", "EvalOptions", "evaluate_runs", "parse_strokes"]


def parse_strokes(text: str) -> tuple[int, ...]:
    """``--adherence-strokes`` text (``1,2,4`` or ``none``) -> sorted stroke counts."""
    if text.strip().lower() in ("", "none", "off"):
        return ()
    try:
        counts = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise UserError(f"--adherence-strokes {text!r}: expected numbers like 1,2,4,8,16 (or none)") from None
    if any(c < 1 for c in counts):
        raise UserError(f"--adherence-strokes {text!r}: stroke counts must be >= 1")
    return counts


def build_scorer(options: EvalOptions, cfg: RunConfig) -> Scorer:
    """The metric suite: pixel metrics, and LPIPS / FID / KID from local standard weights when present."""
    from eval.fid_kid import load_inception
    from eval.harness import Scorer
    from eval.lpips_metric import load_lpips
    from eval.pixel_metrics import EdgeSettings, edge_tolerance

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return Scorer(
        edges=EdgeSettings(cfg.hints.canny_low, cfg.hints.canny_high, edge_tolerance(cfg.data.resolution)),
        lpips=load_lpips(options.weights_dir),
        features=load_inception(options.weights_dir),
        workers=options.workers or cores,
        seed=cfg.eval.seed,
    )


def evaluate_runs(paths: list[Path], options: EvalOptions) -> None:
    """Evaluate run directories (all validated before any work starts) and report what was done."""
    from tqdm.auto import tqdm

    from bench.eval_jobs import run_jobs
    from eval.weights import Unavailable

    if options.batch_size is not None and options.batch_size < 1:
        raise UserError("--batch-size must be >= 1")
    if options.weights_dir is not None and not options.weights_dir.is_dir():
        raise UserError(f"--weights-dir {options.weights_dir} is not a folder")
    plans = [validate_run(path, options) for path in paths]
    cache = ItemCache()
    scorers: dict[tuple[Any, ...], Scorer] = {}
    notes: list[str] = []
    for plan in plans:
        key = scorer_key(plan.cfg)
        if key not in scorers:
            scorers[key] = build_scorer(options, plan.cfg)
            for metric in (scorers[key].lpips, scorers[key].features):
                if isinstance(metric, Unavailable) and metric.reason not in notes:
                    notes.append(metric.reason)
        plan.scorer = scorers[key]
        plan_jobs(plan, options, cache, plan.scorer)
    for note in notes:
        typer.echo(f"note: {note}")
    total = sum(len(job.items) for plan in plans for job in plan.jobs)
    with tqdm(total=total, disable=options.quiet or total == 0, unit="img", desc="eval") as bar:
        for plan in plans:
            assert plan.scorer is not None
            sampled, rescored = run_jobs(plan, plan.scorer, options, bar)
            checkpoints = len({job.checkpoint.name for job in plan.jobs})
            typer.echo(
                f"{plan.run.path}: {len(plan.jobs)} checkpoint x eval-set jobs over {checkpoints} checkpoint(s) "
                f"({sampled} sampled, {rescored} re-scored from saved samples), {plan.skipped} already scored; "
                f"results in {plan.run.file('eval.csv')}"
            )


def eval_command(
    run_dirs: list[Path] = typer.Argument(..., help="Run directories to evaluate (made by bench train)."),
    checkpoint: str = typer.Option("all", "--checkpoint", help="all, last, or one checkpoint's name (usd-...)."),
    checkpoints: int = typer.Option(
        0, "--checkpoints", help="With --checkpoint all: at most this many, evenly spread, newest included (0 = all)."
    ),
    eval_sets: list[str] = typer.Option(
        [], "--eval-set", help="Another eval set, e.g. folder:PATH (repeatable); the run's own split is always scored."
    ),
    photos: bool = typer.Option(True, "--photos/--no-photos", help="Also score builtin:photos (real photographs)."),
    adherence: str = typer.Option(
        "1,2,4,8,16",
        "--adherence-strokes",
        help="Strokes per image of the adherence curve (newest checkpoint); none turns it off.",
    ),
    variants: bool = typer.Option(
        True,
        "--variants/--no-variants",
        help="Also score the run's own set with colour-free captions and hue-rotated strokes (newest checkpoint).",
    ),
    force: bool = typer.Option(False, "--force", help="Re-sample and re-score what is already in eval.csv."),
    weights_dir: Path = typer.Option(
        None,
        "--weights-dir",
        help="Folder with local copies of the LPIPS / FID weight files (or set $STROKEBENCH_WEIGHTS_DIR).",
    ),
    batch_size: int = typer.Option(None, "--batch-size", help="Images sampled at once. [default: the run's]"),
    workers: int = typer.Option(0, "--workers", help="Threads scoring images side by side (0 = one per core)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    references: Path = typer.Option(
        None,
        "--references",
        help="Also score the $0 reference rows (oracle, mean-fill, strokes-on-gray, propagate) into this folder.",
    ),
) -> None:
    """Score every checkpoint of the runs on the fixed eval sets; rows are appended to RUN/eval.csv.

    Metrics: stroke-colour fidelity (CIEDE2000 at stroke pixels), whole-image CIEDE2000 and PSNR, edge F1,
    LPIPS, FID and KID (the last three only with their standard weights present locally; never downloaded),
    each with n and a 95 % bootstrap interval. Outputs are saved as PNGs under RUN/samples/eval/, with each
    item's scores (scores.json) for paired comparisons. The newest checkpoint is also scored with colour-free
    captions and with counterfactual (hue-rotated) strokes.
    """
    from bench.processes import Processes

    Processes().require_one("bench eval")
    options = EvalOptions(
        checkpoint=checkpoint,
        max_checkpoints=checkpoints,
        eval_sets=tuple(eval_sets),
        photos=photos,
        adherence=parse_strokes(adherence),
        variants=variants,
        force=force,
        weights_dir=weights_dir,
        batch_size=batch_size,
        workers=workers,
        quiet=quiet,
    )
    evaluate_runs(list(run_dirs), options)
    if references is not None:
        from bench.references import evaluate_references

        evaluate_references(list(run_dirs), references, options)
