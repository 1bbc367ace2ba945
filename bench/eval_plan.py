"""What `bench eval` must do: validated run directories, their eval sets, and the (checkpoint, set) jobs.

Eval sets are built once per (set, strokes, data and hint settings, variant) and shared by runs that agree on
them. At the newest checkpoint the run's own set is also scored in two variants that a caption cannot fake:
captions without colour words, and strokes whose hue is turned half-way round (`eval.variants`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.core.errors import UserError

if TYPE_CHECKING:
    from bench.config import RunConfig
    from bench.rundir import Checkpoint, RunDir
    from eval.harness import Scorer
    from eval.items import EvalItems

#: strokes per image of the stroke adherence curve
DEFAULT_ADHERENCE = (1, 2, 4, 8, 16)
#: the real-photo eval set every run is also scored on
PHOTOS = "builtin:photos"
#: per-checkpoint cost rows
COST_METRICS = ("sampling_s_per_image", "sampling_usd_per_1k")
#: eval items with the colour words taken out of the captions
COLOUR_FREE = "colour-free"
#: eval items with every stroke's hue rotated by 180 degrees in CIE LCh (captions as they are)
COUNTERFACTUAL = "counterfactual"
VARIANTS = (COLOUR_FREE, COUNTERFACTUAL)


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
    #: score the run's own set with colour-free captions and counterfactual strokes (newest checkpoint)
    variants: bool = True


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


def validate_run(path: Path, options: EvalOptions) -> RunPlan:
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
    """Eval sets built once per (set, strokes, data and hint settings, variant), shared by runs that agree."""

    def __init__(self) -> None:
        self._sets: dict[tuple[Any, ...], EvalItems] = {}

    def get(self, cfg: RunConfig, spec: str, strokes: int | None, where: Path, variant: str = "") -> EvalItems:
        key = (spec, strokes, repr(cfg.data), repr(cfg.hints), cfg.eval.seed, variant)
        if key not in self._sets:
            if variant:
                self._sets[key] = vary(self.get(cfg, spec, strokes, where), variant)
            else:
                self._sets[key] = _build_items(cfg, spec, strokes, where)
        return self._sets[key]


def vary(items: EvalItems, variant: str) -> EvalItems:
    """``items`` with colour-free captions or counterfactual (hue-rotated) strokes."""
    import numpy as np
    import torch

    from bench.data.captions import drop_color_words
    from bench.sampling import hint_picture
    from eval.variants import counterfactual_hints

    if variant == COLOUR_FREE:
        return dataclasses.replace(items, variant=variant, captions=[drop_color_words(c) for c in items.captions])
    if variant == COUNTERFACTUAL:
        hints = counterfactual_hints(items.hints)
        pictures = np.stack([hint_picture(torch.from_numpy(h.astype(np.float32) / 255.0)) for h in hints])
        return dataclasses.replace(items, variant=variant, hints=hints, pictures=pictures)
    raise ValueError(f"unknown eval variant {variant!r}")


def _build_items(cfg: RunConfig, spec: str, strokes: int | None, where: Path) -> EvalItems:
    import numpy as np

    from bench.data.eval_split import eval_batches
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


def scorer_key(cfg: RunConfig) -> tuple[int, int, int, int]:
    """What a metric suite depends on (edge thresholds, resolution, eval seed): runs that agree share one."""
    return (cfg.hints.canny_low, cfg.hints.canny_high, cfg.data.resolution, cfg.eval.seed)


ScoredSets = list[tuple["EvalItems", tuple[str, ...]]]


def scored_sets(cfg: RunConfig, options: EvalOptions, cache: ItemCache, where: Path) -> tuple[ScoredSets, ScoredSets]:
    """(eval sets scored at every checkpoint, those scored at the newest only), each with its metrics."""
    from eval.harness import NETWORK_METRICS
    from eval.metric_specs import ADHERENCE_METRICS, PIXEL_METRICS

    specs = list(dict.fromkeys([cfg.data.source, *([PHOTOS] if options.photos else []), *options.eval_sets]))
    every = [(cache.get(cfg, spec, None, where), PIXEL_METRICS + NETWORK_METRICS + COST_METRICS) for spec in specs]
    newest = [(cache.get(cfg, cfg.data.source, k, where), ADHERENCE_METRICS) for k in options.adherence]
    if options.variants:
        newest += [(cache.get(cfg, cfg.data.source, None, where, v), ADHERENCE_METRICS) for v in VARIANTS]
    return every, newest


def plan_jobs(plan: RunPlan, options: EvalOptions, cache: ItemCache, scorer: Scorer) -> None:
    """Fill ``plan.jobs`` with the (checkpoint, eval set) pairs that miss a metric."""
    from bench.results import UNAVAILABLE, read_rows
    from bench.rundir import EVAL_CSV
    from bench.sample_store import SampleStore

    sets, newest_only = scored_sets(plan.cfg, options, cache, plan.run.path)
    existing = {row.key: row for row in read_rows(plan.run.file(EVAL_CSV))}
    store = SampleStore(plan.run.path)
    newest = plan.checkpoints[-1]
    for checkpoint in plan.checkpoints:
        for items, metrics in sets + (newest_only if checkpoint is newest else []):
            rows = [existing.get((checkpoint.name, items.spec, items.strokes, m, items.variant)) for m in metrics]
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
