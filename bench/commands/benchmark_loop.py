"""`bench benchmark loop`: `bench train`'s loop against a bare loop on the same prepared batches."""

from __future__ import annotations

import dataclasses
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import typer


def benchmark_loop_command(
    backbone: str = typer.Option("sd", "--backbone", help="Backbone to time (tiny preset)."),
    steps: int = typer.Option(
        120, "--steps", help="Optimizer steps timed in each loop (train's includes its one FLOP-counted step)."
    ),
    overrides: list[str] = typer.Option([], "--set", help="section.field=value overrides (repeatable)."),
) -> None:
    """Print samples/s of a bare loop (loss, backward, step of the run's optimizer on batches already in memory)
    and of `bench train`, their ratio (target >= 0.95), and `bench train`'s data-wait fraction (target < 5 %).

    Also what making one batch costs, and how many cores the bare loop keeps busy: where it keeps every core busy
    (a CPU run), `bench train` makes its batches on the same cores, which bounds the ratio at about
    bare step / (bare step + batch), however well the workers prefetch."""
    import torch

    from backbones import create_backbone
    from bench.budget import Pricing
    from bench.config import resolve_config
    from bench.core.errors import UserError
    from bench.data.loader import TrainStream
    from bench.train import build_optimizer, start_run, torch_threads, train_run, training_threads, validate_config

    if steps < 5:
        raise UserError("--steps must be at least 5")
    cfg = resolve_config(backbone, "tiny", None, overrides)
    cfg = dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, effective_batch=cfg.data.batch_size))
    validate_config(cfg)
    size = cfg.data.batch_size
    stream = TrainStream(dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, num_workers=0)))
    with torch_threads(1):  # as a data worker makes them: one torch thread, one OpenCV thread
        batches, making = _make_batches(stream, steps + 3)

    torch.manual_seed(cfg.seed)
    model = create_backbone(cfg.backbone, cfg.preset, cfg.data.resolution, cfg.model)
    model.train()
    optimizer = build_optimizer(cfg, list(model.trainable_parameters()))  # the one `bench train` steps
    counter = torch.utils.flop_counter.FlopCounterMode(display=False)
    with counter:
        loss, _ = model(batches[0])
        loss.backward()
    optimizer.zero_grad(set_to_none=True)
    flops = counter.get_total_flops()
    threads = training_threads(cfg, model.config)  # the threads `bench train` steps on
    with torch_threads(threads):
        cpu, wall = time.process_time(), time.perf_counter()
        before_times = _bare_loop(model, optimizer, batches, steps)
        busy = (time.process_time() - cpu) / (time.perf_counter() - wall)  # cores the bare loop keeps busy
    # a budget worth the same number of steps (+3 warm-up steps, which the loop's throughput includes)
    pricing = Pricing.of(cfg.budget, cfg.optim.mixed_precision)
    usd = pricing.usd(pricing.flop_seconds((steps + 3) * flops)) * 0.999
    cfg = dataclasses.replace(cfg, budget=dataclasses.replace(cfg.budget, usd=usd, method="flops", mark_every=1.0))
    with tempfile.TemporaryDirectory() as tmp:
        run = start_run(cfg, Path(tmp) / "run")
        result = train_run(cfg, run, resume=False, quiet=True)
        # the same window as the bare loop's: after 3 warm-up steps (the first one counts FLOPs for the meter)
        steady = [r for r in run.read_log() if r["step"] > 3 and r.get("samples_per_s")]
        # one step per line (accumulation 1): each line's rate gives its step's time
        train_times = [size / r["samples_per_s"] for r in steady]
    with torch_threads(threads):
        after_times = _bare_loop(model, optimizer, batches, steps)
    before, after, trained = (len(t) * size / sum(t) for t in (before_times, after_times, train_times))
    bare = (before + after) / 2  # the machine's speed drifts; the reference brackets the run
    # medians: a shared machine's bursts of other load slow single steps of either loop; the median step is what
    # the loop itself costs
    bare_median = size / statistics.median(before_times + after_times)
    train_median = size / statistics.median(train_times)
    threads = threads or torch.get_num_threads()
    typer.echo(f"backbone {cfg.backbone} (tiny), batch {cfg.data.batch_size}, {steps} steps, {threads} threads")
    typer.echo(
        f"bare loop:   {bare:8.1f} samples/s (loss + backward + step on batches in memory; "
        f"{before:.1f} before and {after:.1f} after bench train)"
    )
    typer.echo(
        f"bench train: {trained:8.1f} samples/s (steps 4-{result.steps} of {result.steps}, data from workers; "
        f"{result.samples_per_second:.1f} over all steps)"
    )
    typer.echo(f"ratio:       {trained / bare:8.3f} (target >= 0.95)")
    typer.echo(
        f"median step: {train_median / bare_median:8.3f} ratio ({bare_median:.1f} bare vs {train_median:.1f} "
        "bench train samples/s at the median step time: robust to other load's bursts)"
    )
    typer.echo(f"data wait:   {result.data_wait_fraction:8.1%} of step time (target < 5 %)")
    bare_step = size / bare_median
    cores = os.cpu_count() or 1
    typer.echo(
        f"making data: {making * 1000:8.1f} ms per batch in one process ({making / bare_step:.1%} of a bare step of "
        f"{bare_step * 1000:.0f} ms); the bare loop keeps {busy:.1f} of {cores} cores busy"
    )
    if busy > cores - 0.5:
        typer.echo(
            f"bound:       {bare_step / (bare_step + making):8.3f} ratio at best on this machine: no core is left for "
            "the data workers, so bench train makes its batches on the cores the bare loop computes on"
        )


def _make_batches(stream: Any, count: int) -> tuple[list[Any], float]:
    """``count`` batches of ``stream`` and the median seconds one took to make (in this process, on one OpenCV
    thread as in a data worker; the process's OpenCV thread count is restored afterwards)."""
    import cv2

    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    batches, seconds = [], []
    try:
        for _ in range(count):
            start = time.perf_counter()
            batches.append(next(stream))
            seconds.append(time.perf_counter() - start)
    finally:
        cv2.setNumThreads(previous)
    return batches, statistics.median(seconds)


def _bare_loop(model: Any, optimizer: Any, batches: list[Any], steps: int) -> list[float]:
    """Seconds of each loss + backward + step over ``batches``, after 3 warm-up steps."""
    times = []
    for index, batch in enumerate(batches[: steps + 3]):
        start = time.perf_counter()
        loss, _ = model(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if index >= 3:
            times.append(time.perf_counter() - start)
    return times
