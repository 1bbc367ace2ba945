"""Sampling a trained run: a progress grid of the eval split, and coloring a person's own drawing.

Both go through the backbone's ``sample`` only, with the run's eval settings (steps, guidance, seed).
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

from backbones.base import Backbone, Batch
from bench.budget import BudgetMeter
from bench.config import RunConfig
from bench.core.atomic import write_bytes


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """``B x 3 x H x W`` in [0, 1] -> ``B x H x W x 3`` uint8."""
    return (images.clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)


def hint_picture(hint: torch.Tensor) -> np.ndarray:
    """A hint as a person sees it: black edges on white, strokes painted over (``H x W x 3`` uint8)."""
    edges = 1.0 - hint[0:1].expand(3, -1, -1)
    picture = hint[1:4] + edges * (1.0 - hint[4:5])
    return to_uint8(picture[None])[0]


@torch.no_grad()
def sample_batch(backbone: Backbone, batch: Batch, cfg: RunConfig, meter: BudgetMeter | None = None) -> torch.Tensor:
    """Samples (``B x 3 x H x W`` in [0, 1]) for a batch's hints and captions with the run's eval settings."""
    generator = torch.Generator("cpu").manual_seed(cfg.eval.seed)
    device = next(backbone.parameters()).device
    start = time.perf_counter()
    counter = FlopCounterMode(display=False) if meter is not None and meter.state.method == "flops" else None
    if counter is not None:
        with counter:
            images = backbone.sample(
                batch.hint.to(device),
                batch.captions,
                steps=cfg.eval.steps,
                guidance=cfg.eval.guidance,
                generator=generator,
            )
    else:
        images = backbone.sample(
            batch.hint.to(device), batch.captions, steps=cfg.eval.steps, guidance=cfg.eval.guidance, generator=generator
        )
    if meter is not None:
        meter.charge_sampling(time.perf_counter() - start, float(counter.get_total_flops()) if counter else 0.0)
    return images.float().cpu()


def write_png(path: Path, image: np.ndarray) -> None:
    """Write an ``H x W x 3`` uint8 image atomically as PNG."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    write_bytes(path, buffer.getvalue())


def grid(rows: list[list[np.ndarray]], scale: int = 1, pad: int = 2) -> np.ndarray:
    """Tile equal-size ``H x W x 3`` images into a grid with white gaps, optionally enlarged."""
    height, width = rows[0][0].shape[:2]
    cols = max(len(r) for r in rows)
    sheet = np.full((len(rows) * (height + pad) + pad, cols * (width + pad) + pad, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            y, x = pad + r * (height + pad), pad + c * (width + pad)
            sheet[y : y + height, x : x + width] = image
    if scale > 1:
        sheet = np.kron(sheet, np.ones((scale, scale, 1), np.uint8))
    return sheet


def write_sample_grid(path: Path, batch: Batch, images: torch.Tensor) -> None:
    """One row per item: hint | target | sample."""
    targets = to_uint8((batch.pixels + 1.0) / 2.0)
    outputs = to_uint8(images)
    rows = [[hint_picture(batch.hint[i]), targets[i], outputs[i]] for i in range(len(batch))]
    write_png(path, grid(rows, scale=max(1, 128 // batch.pixels.shape[-1])))
