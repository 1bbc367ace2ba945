"""Running `bench eval`'s jobs: load a checkpoint, sample through a metered sampling function, score, save.

Every job's per-item scores go to the sample store beside its PNGs (what paired comparisons across runs
read); eval.csv gets one row per metric with its item-bootstrap interval.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from bench.core.errors import UserError
from bench.eval_plan import COST_METRICS, EvalOptions, Job, RunPlan

if TYPE_CHECKING:
    from bench.config import RunConfig
    from bench.results import EvalRow
    from bench.rundir import Checkpoint
    from eval.harness import Scorer


def _load_checkpoint(backbone: Any, plan: RunPlan, checkpoint: Checkpoint) -> None:
    """Load a checkpoint's trainable weights; a checkpoint that does not fit the run's config is one sentence."""
    try:
        backbone.load_trainable(checkpoint.control)
    except UserError as exc:  # the backbone's one sentence, with the run it came from
        raise UserError(
            f"checkpoint {checkpoint.name} of {plan.run.path} does not fit the run's config.toml "
            f"(backbone {plan.cfg.backbone}, preset {plan.cfg.preset}): {str(exc).rstrip('.')}; was config.toml edited?"
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
        """A10 dollars per 1000 images, from the meter's sampling bill over the images it metered."""
        return self.meter.sampling_usd / max(1, self.metered_images) * 1000.0


def rows_of(job: Job, results: list[Any], extra: dict[str, float]) -> list[EvalRow]:
    from bench.results import UNAVAILABLE, EvalRow

    nan = float("nan")
    rows = []
    base = {
        "checkpoint": job.checkpoint.name,
        "step": job.checkpoint.step,
        "usd": job.checkpoint.usd,
        "eval_set": job.items.spec,
        "strokes": job.items.strokes,
        "variant": job.items.variant,
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


def run_jobs(plan: RunPlan, scorer: Scorer, options: EvalOptions, bar: Any) -> tuple[int, int]:
    """Sample (or reload) and score every job of a run, writing eval.csv after each; (sampled, re-scored)."""
    import torch

    from backbones import create_backbone
    from bench.results import merge_rows, read_rows, write_rows
    from bench.rundir import EVAL_CSV
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
                backbone.prepare_captions(["", *(c for j in plan.jobs for c in j.items.captions)])
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
        store.write_scores(
            job.items, job.checkpoint.name, {r.metric: r.values for r in results if r.values is not None}
        )
        path = plan.run.file(EVAL_CSV)
        write_rows(path, merge_rows(read_rows(path), rows_of(job, results, extra)))
    return sampled, rescored
