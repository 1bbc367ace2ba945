"""`bench eval RUN_DIR...`: sample the fixed eval sets with each checkpoint, score them, append to eval.csv.

This module is the glue between a run directory and the backbone-agnostic harness in `eval/`: it reads the
run's config, builds the eval sets (`bench.data.loader.eval_batches`: fixed hints, fixed seeds), loads each
checkpoint's trainable weights into the run's backbone and hands the harness a sampling *function*
(`bench.sampling.sample_batch` with the run's eval settings). Everything already scored is skipped unless
``--force``; saved sample PNGs are re-scored instead of re-sampled when only a metric is missing (e.g. after
the LPIPS weights were installed).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from bench.core.errors import UserError

if TYPE_CHECKING:
    from bench.config import RunConfig
    from bench.results import EvalRow
    from bench.rundir import Checkpoint, RunDir
    from eval.harness import Scorer
    from eval.items import EvalItems

#: strokes per image of the stroke adherence curve
DEFAULT_ADHERENCE = (1, 2, 4, 8, 16)
#: the real-photo eval set every run is also scored on
PHOTOS = "builtin:photos"
#: per-checkpoint cost rows
COST_METRICS = ("sampling_s_per_image", "sampling_usd_per_1k")


@dataclass
class EvalOptions:
    """What `bench eval` (and `bench run`) evaluate and how."""

    checkpoint: str = "all"
    #: with checkpoint "all": evaluate at most this many, evenly spread, always the newest (0 = every one)
    max_checkpoints: int = 0
    eval_sets: tuple[str, ...] = ()
    photos: bool = True
    adherence: tuple[int, ...] = DEFAULT_ADHERENCE
    force: bool = False
    weights_dir: Path | None = None
    batch_size: int | None = None
    workers: int = 0
    quiet: bool = False


@dataclass
class Job:
    """One checkpoint on one eval set: which metrics are missing and whether outputs must be sampled."""

    checkpoint: Checkpoint
    items: EvalItems
    metrics: tuple[str, ...]
    resample: bool


@dataclass
class RunPlan:
    """A validated run directory and the jobs it needs."""

    run: RunDir
    cfg: RunConfig
    checkpoints: list[Checkpoint]
    jobs: list[Job] = field(default_factory=list)
    skipped: int = 0
    scorer: Scorer | None = None


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


def _validate(path: Path, options: EvalOptions) -> RunPlan:
    """A run directory that can be evaluated, with its selected checkpoints (one-line errors otherwise)."""
    from bench.config import read_run_config
    from bench.rundir import CONFIG, RunDir

    run = RunDir(path)
    run.require_run()
    cfg = read_run_config(run.file(CONFIG))
    done = run.checkpoints()
    if not done:
        raise UserError(f"{path} has no complete checkpoint to evaluate; train it first (bench train --resume {path})")
    selected = done if options.checkpoint == "all" else [run.checkpoint(options.checkpoint)]
    return RunPlan(run, cfg, spread(selected, options.max_checkpoints))


def spread(checkpoints: list[Checkpoint], count: int) -> list[Checkpoint]:
    """At most ``count`` of ``checkpoints`` (cheapest first), evenly spread from the first to the newest."""
    if count <= 0 or len(checkpoints) <= count:
        return checkpoints
    if count == 1:
        return checkpoints[-1:]
    last = len(checkpoints) - 1
    picks = sorted({round(i * last / (count - 1)) for i in range(count)})
    return [checkpoints[i] for i in picks]


class ItemCache:
    """Eval sets built once per (set, strokes, data and hint settings) and shared by runs that agree on them."""

    def __init__(self) -> None:
        self._sets: dict[tuple[Any, ...], EvalItems] = {}

    def get(self, cfg: RunConfig, spec: str, strokes: int | None, where: Path) -> EvalItems:
        key = (spec, strokes, repr(cfg.data), repr(cfg.hints), cfg.eval.seed)
        if key not in self._sets:
            self._sets[key] = _build_items(cfg, spec, strokes, where)
        return self._sets[key]


def _build_items(cfg: RunConfig, spec: str, strokes: int | None, where: Path) -> EvalItems:
    import numpy as np

    from bench.data.loader import eval_batches
    from bench.sampling import hint_picture, to_uint8
    from eval.items import EvalItems

    batches = eval_batches(cfg, spec=spec, batch_size=64, num_strokes=strokes)
    if not batches:
        raise UserError(
            f"{where}: the eval split of {spec} is empty (data.eval_size={cfg.data.eval_size}); score another "
            "set with --eval-set or train with --set data.eval_size=16"
        )
    hints = np.concatenate([b.hint.numpy() for b in batches])
    return EvalItems(
        spec=spec,
        keys=[k for b in batches for k in b.keys],
        captions=[c for b in batches for c in b.captions],
        targets=np.concatenate([to_uint8((b.pixels + 1.0) / 2.0) for b in batches]),
        hints=EvalItems.encode_hints(hints),
        strokes=strokes,
        pictures=np.stack([hint_picture(h) for b in batches for h in b.hint]),
    )


def _plan_jobs(plan: RunPlan, options: EvalOptions, cache: ItemCache, scorer: Scorer) -> None:
    """Fill ``plan.jobs`` with the (checkpoint, eval set) pairs that miss a metric."""
    from bench.results import UNAVAILABLE, read_rows
    from bench.sample_store import SampleStore
    from eval.harness import NETWORK_METRICS
    from eval.metric_specs import ADHERENCE_METRICS, PIXEL_METRICS

    cfg = plan.cfg
    specs = list(dict.fromkeys([cfg.data.source, *([PHOTOS] if options.photos else []), *options.eval_sets]))
    sets = [
        (cache.get(cfg, spec, None, plan.run.path), PIXEL_METRICS + NETWORK_METRICS + COST_METRICS) for spec in specs
    ]
    adherence = [(cache.get(cfg, cfg.data.source, k, plan.run.path), ADHERENCE_METRICS) for k in options.adherence]
    existing = {row.key: row for row in read_rows(plan.run.file("eval.csv"))}
    store = SampleStore(plan.run.path)
    newest = plan.checkpoints[-1]
    for checkpoint in plan.checkpoints:
        for items, metrics in sets + (adherence if checkpoint is newest else []):
            rows = [existing.get((checkpoint.name, items.spec, items.strokes, m)) for m in metrics]
            # a checkpoint re-written by a resumed run keeps its name but not its weights: its rows are stale
            stale = any(r is not None and (r.step != checkpoint.step or r.usd != checkpoint.usd) for r in rows)
            todo = tuple(
                m
                for m, row in zip(metrics, rows, strict=True)
                if options.force or stale or row is None or (row.status == UNAVAILABLE and scorer.available(m))
            )
            if not todo:
                plan.skipped += 1
                continue
            resample = (
                options.force
                or stale
                or any(m in COST_METRICS for m in todo)
                or store.read_outputs(items, checkpoint.name) is None
            )
            plan.jobs.append(Job(checkpoint, items, todo, resample))


def _load_checkpoint(backbone: Any, plan: RunPlan, checkpoint: Checkpoint) -> None:
    """Load a checkpoint's trainable weights; a checkpoint that does not fit the run's config is one sentence."""
    try:
        backbone.load_trainable(checkpoint.control)
    except UserError:
        raise
    except Exception as exc:  # any loader's mismatch error (shapes, missing keys, files): the user's to fix
        detail = " ".join(str(exc).split())[:200].rstrip(". ")
        raise UserError(
            f"checkpoint {checkpoint.name} of {plan.run.path} does not fit the run's config.toml "
            f"(backbone {plan.cfg.backbone}, preset {plan.cfg.preset}): {detail}; was config.toml edited?"
        ) from None
    backbone.eval()


class _MeteredSampler:
    """The sampling function the harness receives (float hints + captions -> uint8 images), and its cost.

    Sampling dollars come from the run's budget method. Counting FLOPs (the method without a GPU) slows
    sampling by a third, so then only the first batch is counted and its cost per image stands for all.
    """

    def __init__(self, backbone: Any, cfg: RunConfig, device: Any) -> None:
        from bench.budget import BudgetMeter

        self.backbone, self.cfg = backbone, cfg
        self.meter = BudgetMeter(cfg.budget, cfg.optim.mixed_precision, device)
        self.metered_images = 0
        #: wall seconds and images of sampling, metered and unmetered batches apart (FLOP counting is slower)
        self.wall = {True: [0.0, 0], False: [0.0, 0]}

    def __call__(self, hints: Any, captions: list[str]) -> Any:
        import torch

        from backbones.base import Batch
        from bench.sampling import sample_batch, to_uint8

        size = hints.shape[2:]
        batch = Batch(torch.zeros(len(hints), 3, *size), torch.from_numpy(hints), list(captions), [""] * len(hints))
        metered = self.meter.state.method != "flops" or self.metered_images == 0
        start = time.perf_counter()
        images = sample_batch(self.backbone, batch, self.cfg, self.meter if metered else None)
        self.wall[metered][0] += time.perf_counter() - start
        self.wall[metered][1] += len(hints)
        self.metered_images += len(hints) if metered else 0
        return to_uint8(images)

    @property
    def seconds_per_image(self) -> float:
        """Wall seconds per image, from batches sampled without FLOP counting where there are any."""
        seconds, images = self.wall[False] if self.wall[False][1] else self.wall[True]
        return seconds / max(1, images)

    @property
    def usd_per_1k(self) -> float:
        seconds = self.meter.state.sampling_reference_seconds / max(1, self.metered_images)
        return seconds * self.cfg.budget.price_per_hour / 3600.0 * 1000.0


def _rows(job: Job, results: list[Any], extra: dict[str, float]) -> list[EvalRow]:
    from bench.results import UNAVAILABLE, EvalRow

    nan = float("nan")
    rows = []
    base = {
        "checkpoint": job.checkpoint.name,
        "step": job.checkpoint.step,
        "usd": job.checkpoint.usd,
        "eval_set": job.items.spec,
        "strokes": job.items.strokes,
    }
    for result in results:
        if result.estimate is None:
            rows.append(EvalRow(**base, metric=result.metric, n=len(job.items), mean=nan, ci_low=nan, ci_high=nan,
                                status=UNAVAILABLE, note=result.note))  # fmt: skip
        else:
            e = result.estimate
            rows.append(EvalRow(**base, metric=result.metric, n=e.n, mean=e.mean, ci_low=e.low, ci_high=e.high))
    for metric, value in extra.items():
        rows.append(EvalRow(**base, metric=metric, n=len(job.items), mean=value, ci_low=nan, ci_high=nan))
    return rows


def _run_jobs(plan: RunPlan, scorer: Scorer, options: EvalOptions, bar: Any) -> tuple[int, int]:
    """Sample (or reload) and score every job of a run, writing eval.csv after each; (sampled, re-scored)."""
    import torch

    from backbones import create_backbone
    from bench.results import merge_rows, read_rows, write_rows
    from bench.sample_store import SampleStore
    from eval.harness import generate

    cfg, store = plan.cfg, SampleStore(plan.run.path)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    backbone, loaded = None, None
    sampled = rescored = 0
    for job in plan.jobs:
        store.write_inputs(job.items)
        extra: dict[str, float] = {}
        if job.resample:
            if backbone is None:
                backbone = create_backbone(cfg.backbone, cfg.preset, cfg.data.resolution, cfg.model).to(device)
            if loaded != job.checkpoint.name:
                _load_checkpoint(backbone, plan, job.checkpoint)
                loaded = job.checkpoint.name
            sampler = _MeteredSampler(backbone, cfg, device)
            generation = generate(sampler, job.items, options.batch_size or cfg.data.batch_size, bar.update)
            outputs = generation.outputs
            store.write_outputs(job.items, job.checkpoint.name, outputs)
            extra = {
                "sampling_s_per_image": sampler.seconds_per_image,
                "sampling_usd_per_1k": sampler.usd_per_1k,
            }
            extra = {k: v for k, v in extra.items() if k in job.metrics}
            sampled += 1
        else:
            outputs = store.read_outputs(job.items, job.checkpoint.name)
            assert outputs is not None
            bar.update(len(outputs))
            rescored += 1
        results = scorer.score(outputs, job.items, tuple(m for m in job.metrics if m not in COST_METRICS))
        path = plan.run.file("eval.csv")
        write_rows(path, merge_rows(read_rows(path), _rows(job, results, extra)))
    return sampled, rescored


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

    from eval.weights import Unavailable

    if options.batch_size is not None and options.batch_size < 1:
        raise UserError("--batch-size must be >= 1")
    if options.weights_dir is not None and not options.weights_dir.is_dir():
        raise UserError(f"--weights-dir {options.weights_dir} is not a folder")
    plans = [_validate(path, options) for path in paths]
    cache = ItemCache()
    scorers: dict[tuple[Any, ...], Scorer] = {}
    notes: list[str] = []
    for plan in plans:
        key = (plan.cfg.hints.canny_low, plan.cfg.hints.canny_high, plan.cfg.data.resolution, plan.cfg.eval.seed)
        if key not in scorers:
            scorers[key] = build_scorer(options, plan.cfg)
            for metric in (scorers[key].lpips, scorers[key].features):
                if isinstance(metric, Unavailable) and metric.reason not in notes:
                    notes.append(metric.reason)
        plan.scorer = scorers[key]
        _plan_jobs(plan, options, cache, plan.scorer)
    for note in notes:
        typer.echo(f"note: {note}")
    total = sum(len(job.items) for plan in plans for job in plan.jobs)
    with tqdm(total=total, disable=options.quiet or total == 0, unit="img", desc="eval") as bar:
        for plan in plans:
            assert plan.scorer is not None
            sampled, rescored = _run_jobs(plan, plan.scorer, options, bar)
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
    force: bool = typer.Option(False, "--force", help="Re-sample and re-score what is already in eval.csv."),
    weights_dir: Path = typer.Option(
        None,
        "--weights-dir",
        help="Folder with local copies of the LPIPS / FID weight files (or set $STROKEBENCH_WEIGHTS_DIR).",
    ),
    batch_size: int = typer.Option(None, "--batch-size", help="Images sampled at once. [default: the run's]"),
    workers: int = typer.Option(0, "--workers", help="Threads scoring images side by side (0 = one per core)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Score every checkpoint of the runs on the fixed eval sets; rows are appended to RUN/eval.csv.

    Metrics: stroke-colour fidelity (CIEDE2000 at stroke pixels), whole-image CIEDE2000 and PSNR, edge F1,
    LPIPS, FID and KID (the last three only with their standard weights present locally; never downloaded),
    each with n and a 95 % bootstrap interval. Outputs are saved as PNGs under RUN/samples/eval/.
    """
    options = EvalOptions(
        checkpoint=checkpoint,
        max_checkpoints=checkpoints,
        eval_sets=tuple(eval_sets),
        photos=photos,
        adherence=parse_strokes(adherence),
        force=force,
        weights_dir=weights_dir,
        batch_size=batch_size,
        workers=workers,
        quiet=quiet,
    )
    evaluate_runs(list(run_dirs), options)
