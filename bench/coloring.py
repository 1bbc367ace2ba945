"""Coloring a person's own drawing with a trained run: load the run once, then color many drawings.

`bench sample` colors one drawing and exits; `bench demo` keeps runs loaded and colors on every request. Both go
through `load_run` and `color_drawing`, so the page gives the same image as the command for the same inputs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from backbones.base import Backbone
from bench.config import RunConfig
from bench.core.errors import UserError
from bench.rundir import Checkpoint, RunDir


@dataclass
class LoadedRun:
    """A run's config and one checkpoint's trained weights, ready to sample."""

    run: RunDir
    cfg: RunConfig
    checkpoint: Checkpoint
    backbone: Backbone


@dataclass
class Colored:
    """One colored drawing: ``H x W x 3`` uint8 image at the run's resolution and the ``5 x H x W`` hint it saw."""

    image: np.ndarray
    hint: torch.Tensor


def load_run(run_dir: Path, checkpoint: str = "last", device: str = "cpu") -> LoadedRun:
    """Read a run directory and load checkpoint ``checkpoint`` (a mark name or ``last``) onto ``device``."""
    from backbones import create_backbone
    from bench.config import read_run_config
    from bench.rundir import CONFIG

    run = RunDir(run_dir)
    run.require_run()
    cfg = read_run_config(run.file(CONFIG))
    chosen = run.checkpoint(checkpoint)
    backbone = create_backbone(cfg.backbone, cfg.preset, cfg.data.resolution, cfg.model)
    backbone.load_trainable(chosen.control)
    backbone.to(device)
    backbone.eval()
    return LoadedRun(run, cfg, chosen, backbone)


def color_drawing(
    loaded: LoadedRun,
    lineart: np.ndarray | Path,
    strokes: np.ndarray | Path,
    caption: str,
    *,
    steps: int | None = None,
    guidance: float | None = None,
    seed: int = 0,
) -> Colored:
    """Line art (RGB) + RGBA strokes -> the training hint (`load_user_hint`) -> the run's model.

    ``steps`` and ``guidance`` default to the run's eval settings; the same inputs and ``seed`` give the same image.
    """
    from backbones.base import Batch
    from bench.sampling import sample_batch, to_uint8
    from hints import load_user_hint

    if (steps is not None and steps < 1) or (guidance is not None and guidance < 0):
        raise UserError("steps must be >= 1 and guidance >= 0")
    cfg = loaded.cfg
    size = cfg.data.resolution
    hint = torch.from_numpy(load_user_hint(lineart, strokes, size, cfg.hints))
    eval_cfg = dataclasses.replace(
        cfg.eval,
        steps=steps or cfg.eval.steps,
        guidance=cfg.eval.guidance if guidance is None else guidance,
        seed=seed,
    )
    batch = Batch(torch.zeros(1, 3, size, size), hint[None], [caption], ["user"])
    loaded.backbone.prepare_captions(["", caption])  # IF: T5 encodes on the accelerator, not per sampling step
    image = sample_batch(loaded.backbone, batch, dataclasses.replace(cfg, eval=eval_cfg))
    return Colored(to_uint8(image)[0], hint)
