"""`bench benchmark loop`: `bench train`'s loop against a bare loop on the same prepared batches."""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

import typer


def benchmark_loop_command(
    backbone: str = typer.Option("sd", "--backbone", help="Backbone to time (tiny preset)."),
    steps: int = typer.Option(40, "--steps", help="Optimizer steps timed in each loop."),
    overrides: list[str] = typer.Option([], "--set", help="section.field=value overrides (repeatable)."),
) -> None:
    """Print samples/s of a bare loop (loss, backward, step on batches already in memory) and of `bench train`,
    their ratio (target >= 0.95), and `bench train`'s data-wait fraction (target < 5 %)."""
    import torch

    from backbones import create_backbone
    from bench.budget import A10_PEAK_FLOPS
    from bench.config import resolve_config
    from bench.data.loader import TrainStream
    from bench.errors import UserError
    from bench.train import start_run, train_run, validate_config

    if steps < 5:
        raise UserError("--steps must be at least 5")
    cfg = resolve_config(backbone, "tiny", None, overrides)
    cfg = dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, effective_batch=cfg.data.batch_size))
    validate_config(cfg)
    stream = TrainStream(dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, num_workers=0)))
    batches = [next(stream) for _ in range(steps + 3)]

    torch.manual_seed(cfg.seed)
    model = create_backbone(cfg.backbone, cfg.preset, cfg.data.resolution, cfg.model)
    model.train()
    optimizer = torch.optim.AdamW(list(model.trainable_parameters()), lr=cfg.optim.lr)
    counter = torch.utils.flop_counter.FlopCounterMode(display=False)
    start = 0.0
    for index, batch in enumerate(batches):
        if index == 3:  # after warm-up
            start = time.perf_counter()
        with counter if index == 0 else _null():
            loss, _ = model(batch)
            loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    bare = steps * cfg.data.batch_size / (time.perf_counter() - start)
    flops = counter.get_total_flops()

    # a budget worth the same number of steps (+3 warm-up steps, which the loop's throughput includes)
    peak = A10_PEAK_FLOPS.get(cfg.optim.mixed_precision, A10_PEAK_FLOPS["no"]) * cfg.budget.utilisation
    usd = (steps + 3) * flops / peak * cfg.budget.price_per_hour / 3600 * 0.999
    cfg = dataclasses.replace(cfg, budget=dataclasses.replace(cfg.budget, usd=usd, method="flops", mark_every=1.0))
    with tempfile.TemporaryDirectory() as tmp:
        run = start_run(cfg, Path(tmp) / "run")
        result = train_run(cfg, run, resume=False, quiet=True)
    typer.echo(
        f"backbone {cfg.backbone} (tiny), batch {cfg.data.batch_size}, {steps} steps, {torch.get_num_threads()} threads"
    )
    typer.echo(f"bare loop:   {bare:8.1f} samples/s (loss + backward + step on batches in memory)")
    typer.echo(f"bench train: {result.samples_per_second:8.1f} samples/s ({result.steps} steps, data from workers)")
    typer.echo(f"ratio:       {result.samples_per_second / bare:8.3f} (target >= 0.95)")
    typer.echo(f"data wait:   {result.data_wait_fraction:8.1%} of step time (target < 5 %)")


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None
