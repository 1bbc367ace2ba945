"""`bench plan`: parameters, FLOPs, A10 cost and memory of a backbone, without downloading weights."""

from __future__ import annotations

import typer

from bench.core.errors import UserError


def _parse_range(text: str) -> list[int]:
    try:
        if "-" in text:
            lo, hi = (int(p) for p in text.split("-", 1))
            values = list(range(lo, hi + 1))
        else:
            values = [int(p) for p in text.split(",")]
    except ValueError:
        raise UserError(f"--batch-sizes {text!r}: give a range like 1-16 or a list like 1,8,16") from None
    if not values or min(values) < 1:
        raise UserError(f"--batch-sizes {text!r}: batch sizes must be >= 1")
    return values


def plan_command(
    backbone: str = typer.Option("sd", "--backbone", help="Backbone to plan: sd, cascade, if."),
    preset: str = typer.Option("full", "--preset", help="full is planned on the meta device; tiny is measured."),
    batch_sizes: str = typer.Option("1-16", "--batch-sizes", help="Batch sizes of the memory table: 1-16 or 1,8,16."),
    overrides: list[str] = typer.Option(
        [], "--set", help="section.field=value, e.g. --set model.gradient_checkpointing=false"
    ),
) -> None:
    """Print parameters, FLOPs per sample, A10 seconds and dollars per step, and peak memory per batch size.

    The full preset is built on PyTorch's meta device from shipped architecture configs: no weights are
    downloaded. The tiny preset is built and measured for real on this machine.
    """
    from bench.config import resolve_config
    from bench.plan import format_plan, make_plan

    sizes = _parse_range(batch_sizes)
    cfg = resolve_config(backbone, preset, None, overrides)
    from backbones import get_backbone_class

    get_backbone_class(cfg.backbone)
    plan = make_plan(cfg, measure=cfg.preset == "tiny")
    for line in format_plan(plan, sizes):
        typer.echo(line)
