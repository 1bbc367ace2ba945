"""`bench run`: the whole benchmark in one command: train each backbone on the same budget, evaluate, report.

Every backbone gets one run directory per seed, ``OUT/<backbone>/seed<S>/``, all from the same preset, data and
overrides, differing only in the backbone and the seed. Re-running the command resumes what exists: a finished
run is kept, a stopped one continues from its newest checkpoint, evaluation skips what is scored, and the report
is rewritten into ``OUT/report/``. Independent FLOP-metered runs train side by side (`bench.run_pool`).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bench.core.errors import UserError

if TYPE_CHECKING:
    from bench.commands.eval import EvalOptions
    from bench.config import RunConfig

DEFAULT_BACKBONES = "sd,cascade,if"
#: where bench run keeps the reference rows (oracle, mean-fill, strokes-on-gray, propagate) inside OUT
REFERENCES = "references"


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


#: seeds per backbone when --seeds is not given; presets not listed train one
DEFAULT_SEEDS = {"tiny": 3}


def parse_seeds(text: str | None, preset: str) -> list[int]:
    """``--seeds``: a count N (seeds 0 .. N-1) or a comma-separated list of distinct seeds."""
    if text is None:
        return list(range(DEFAULT_SEEDS.get(preset, 1)))
    parts = [part.strip() for part in text.split(",") if part.strip()]
    try:
        values = [int(part) for part in parts]
    except ValueError:
        values = []
    if not values or any(v < 0 for v in values):
        raise UserError(f"--seeds {text!r}: give a count (e.g. --seeds 3) or a list of seeds (e.g. --seeds 0,1,2)")
    if len(values) == 1 and "," not in text:
        if values[0] < 1:
            raise UserError(f"--seeds {text}: train at least one seed per backbone (e.g. --seeds 3)")
        return list(range(values[0]))
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise UserError(f"--seeds {text}: seed {repeated[0]} is given twice; each seed is one run per backbone")
    return values


def run_path(out: Path, backbone: str, seed: int) -> Path:
    """Where `bench run` keeps one backbone's run on one seed."""
    from bench.rundir import seed_dir_name

    return out / backbone / seed_dir_name(seed)


@dataclasses.dataclass
class _Planned:
    """One backbone's run on one seed: its directory, config, and whether it is new, to resume, or done."""

    backbone: str
    seed: int
    path: Path
    cfg: RunConfig
    state: str  # "new", "resume" or "done"

    @property
    def label(self) -> str:
        return f"{self.backbone} seed {self.seed}"


def _plan(backbone: str, seed: int, out: Path, preset: str, budget_usd: float | None, overrides: list[str]) -> _Planned:
    """Decide what to do with one backbone's run directory on one seed, validating its config (nothing is
    written)."""
    from bench.config import read_run_config, resolve_config
    from bench.rundir import CONFIG, RunDir
    from bench.train import validate_config

    if RunDir(out / backbone).is_run():
        raise UserError(
            f"{out / backbone} is a run of an earlier bench run that kept one seed per backbone (now "
            f"{run_path(out, backbone, seed)}); use another --out"
        )
    run = RunDir(run_path(out, backbone, seed))
    if run.is_run():
        cfg = read_run_config(run.file(CONFIG))
        if budget_usd is not None and cfg.budget.usd != budget_usd:
            raise UserError(
                f"{run.path} was trained with a ${cfg.budget.usd} budget, not ${budget_usd}; use another --out "
                "to compare at a new budget"
            )
        if cfg.seed != seed:
            raise UserError(f"{run.path} holds a run on seed {cfg.seed}, not {seed}; use another --out")
        done = run.latest()
        state = "done" if done is not None and done.usd >= cfg.budget.usd else "resume"
    else:
        cfg = dataclasses.replace(resolve_config(backbone, preset, None, overrides), seed=seed)
        if budget_usd is not None:
            cfg = dataclasses.replace(cfg, budget=dataclasses.replace(cfg.budget, usd=budget_usd))
        state = "new"
    validate_config(cfg)
    return _Planned(backbone, seed, run.path, cfg, state)


def _train(planned: _Planned, quiet: bool) -> tuple[str, bool]:
    """Train, resume or keep one planned run: (what happened, whether it was interrupted)."""
    from bench.rundir import RunDir
    from bench.train import start_run, train_run

    if planned.state == "done":
        return f"{planned.path} already spent its ${planned.cfg.budget.usd} budget; kept", False
    run = start_run(planned.cfg, planned.path) if planned.state == "new" else RunDir(planned.path)
    result = train_run(planned.cfg, run, resume=planned.state == "resume", quiet=quiet)
    if result.interrupted:
        return f"stopped at ${result.usd:.6g}; run the same command again to resume", True
    return f"{result.steps} steps, ${result.usd:.6g} spent, {result.samples_per_second:.1f} samples/s", False


def _evaluate(path: Path, options: EvalOptions) -> None:
    from bench.commands.eval import evaluate_runs

    evaluate_runs([path], options)


def _flop_metered(plans: list[_Planned]) -> bool:
    """Whether every run's budget is counted in FLOPs (so runs may share the CPU without changing their bills)."""
    return all(p.cfg.budget.method in ("auto", "flops") for p in plans) and not torch_cuda()


def torch_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _train_all(plans: list[_Planned], jobs: int, quiet: bool) -> list[_Planned]:
    """Train every planned run (``jobs`` at a time); the runs that trained, and exit 130 if any was stopped."""
    from bench.run_pool import run_all, threads_per_job

    if jobs > 1:
        typer.echo(f"training {len(plans)} runs, {jobs} at a time on {threads_per_job(jobs)} thread(s) each")
    tasks = [(p.label, _train, (p, quiet or jobs > 1)) for p in plans]
    trained, failed, stopped = [], [], False
    by_label = {p.label: p for p in plans}
    for outcome in run_all(tasks, jobs):
        planned = by_label[outcome.label]
        if outcome.error is not None:
            if outcome.trace:
                typer.echo(outcome.trace, err=True)
            typer.echo(f"{outcome.label}: training failed: {outcome.error}", err=True)
            failed.append(planned)
            continue
        line, stopped = outcome.value
        typer.echo(f"{outcome.label}: {line}")
        if stopped:  # Ctrl-C or SIGTERM: no further run starts (running workers checkpoint and return)
            break
        trained.append(planned)
    if stopped:
        raise typer.Exit(130)
    if failed:
        typer.echo(
            f"{len(failed)} of {len(plans)} runs failed ({', '.join(p.label for p in failed)}); the report "
            "uses the rest",
            err=True,
        )
    return trained


def run_command(
    backbones: str = typer.Option(DEFAULT_BACKBONES, "--backbones", help="Comma-separated backbones to compare."),
    seeds: str = typer.Option(
        None,
        "--seeds",
        help="Seeds per backbone: a count N (seeds 0..N-1) or a list such as 0,3,7; one run directory each. "
        "[default: 3 on the tiny preset, 1 on full]",
    ),
    jobs: int = typer.Option(
        0,
        "--jobs",
        help="Runs trained (and evaluated) at once in worker processes, the CPU's cores split between them. "
        "0 = one per core where budgets are FLOP-metered (a CPU), one at a time on a GPU.",
    ),
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
    """Train every backbone on the same dollar budget on several seeds (resuming what exists), evaluate the
    checkpoints, score the $0 reference rows into OUT/references, and write OUT/report/report.md and report.html.
    Runs live in OUT/<backbone>/seed<S>/; existing runs keep their own config (--set applies to new ones)."""
    from bench.commands.eval import EvalOptions, parse_strokes
    from bench.commands.report import write_report
    from bench.run_pool import parallel_jobs, run_all

    started = time.monotonic()
    names = _backbone_names(backbones)
    seed_list = parse_seeds(seeds, preset)
    if any(parse_override_key(text) == "seed" for text in overrides):
        raise UserError("bench run sets each run's seed from --seeds; drop --set seed=...")
    if budget_usd is not None and budget_usd <= 0:
        raise UserError(f"the budget must be more than $0, got ${budget_usd}")
    if jobs < 0:
        raise UserError(f"--jobs must be 0 (automatic) or a number of processes, got {jobs}")
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
    # every run checked before any work starts
    plans = [_plan(name, seed, out, preset, budget_usd, list(overrides)) for name in names for seed in seed_list]
    workers = parallel_jobs(jobs, len(plans), _flop_metered(plans))
    trained = _train_all(plans, workers, quiet)
    eval_options = dataclasses.replace(options, quiet=quiet or workers > 1)
    for outcome in run_all([(p.label, _evaluate, (p.path, eval_options)) for p in trained], workers):
        if outcome.trace:
            typer.echo(outcome.trace, err=True)
        if outcome.error is not None:
            typer.echo(f"{outcome.label}: evaluation failed: {outcome.error}", err=True)
    references = None
    if trained:  # the $0 reference rows, scored once on the runs' eval sets by the same harness
        from bench.references import evaluate_references

        references = out / REFERENCES
        evaluate_references([p.path for p in trained], references, options)
    markdown, page = write_report([p.path for p in plans], out / "report", title, references=references)
    typer.echo(f"report: {markdown} and {page}")
    typer.echo(f"bench run: {len(plans)} runs in {(time.monotonic() - started) / 60:.1f} min, {workers} at a time")


def parse_override_key(text: str) -> str:
    """The dotted key of a ``--set key=value`` text."""
    return text.split("=", 1)[0].strip()
