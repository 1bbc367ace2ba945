"""The tiny `sd` backbone through the real training loop: loss goes down, resume is exact, `bench sample` works."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

from bench.cli import app
from bench.config import resolve_config
from bench.rundir import RunDir
from bench.train import start_run, train_run

runner = CliRunner()
SMALL = [
    "data.resolution=32",
    "data.batch_size=2",
    "data.num_workers=0",
    "data.eval_size=2",
    "optim.effective_batch=2",
    "eval.steps=2",
    "budget.usd=1.2e-7",
    "budget.mark_every=0.25",
]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    control = RunDir(run).latest().control
    weights = load_file(str(control / "diffusion_pytorch_model.safetensors"))
    base = load_file(str(control / "base_unet" / "diffusion_pytorch_model.safetensors"))
    return {**weights, **{f"base.{k}": v for k, v in base.items()}}


@pytest.mark.slow
def test_sd_tiny_run_resumes_exactly_and_colors_a_drawing(tmp_path: Path) -> None:
    cfg = resolve_config("sd", "tiny", overrides=SMALL)
    full = start_run(cfg, tmp_path / "full")
    result = train_run(cfg, full, resume=False, quiet=True)
    assert result.steps >= 8
    assert len(RunDir(full.path).checkpoints()) == 4
    control = RunDir(full.path).latest().control
    from diffusers import ControlNetModel

    # the hint + the tiny preset's 6 spread grids

    assert ControlNetModel.from_pretrained(control).config.conditioning_channels == 5 + 4 * 6

    cut = tmp_path / "cut"
    shutil.copytree(full.path, cut)
    for checkpoint in RunDir(cut).checkpoints()[2:]:
        shutil.rmtree(checkpoint.path)
    (RunDir(cut).checkpoints_dir / "last").write_text(RunDir(cut).checkpoints()[-1].name)
    train_run(cfg, RunDir(cut), resume=True, quiet=True)
    a, b = _weights(full.path), _weights(cut)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    drawing = np.full((48, 48, 3), 255, np.uint8)
    drawing[8:40, 24] = 0
    Image.fromarray(drawing).save(tmp_path / "lineart.png")
    strokes = np.zeros((48, 48, 4), np.uint8)
    strokes[10:20, 5:15] = (30, 30, 200, 255)
    Image.fromarray(strokes).save(tmp_path / "strokes.png")
    out = tmp_path / "out.png"
    args = ["sample", str(full.path), "--lineart", str(tmp_path / "lineart.png")]
    args += ["--strokes", str(tmp_path / "strokes.png"), "--prompt", "a blue square", "--out", str(out)]
    outcome = runner.invoke(app, args)
    assert outcome.exit_code == 0, outcome.output
    assert np.asarray(Image.open(out)).shape == (32, 32, 3)


def test_sd_loss_goes_down_on_one_batch() -> None:
    from backbones import create_backbone
    from backbones.base import Batch
    from bench.data.loader import eval_batches

    torch.manual_seed(0)
    cfg = resolve_config("sd", "tiny", overrides=["data.resolution=32", "data.eval_size=4"])
    batch: Batch = eval_batches(cfg, batch_size=4)[0]
    backbone = create_backbone("sd", "tiny", 32, {"caption_dropout": 0.0})
    backbone.train()
    optimizer = torch.optim.AdamW(list(backbone.trainable_parameters()), lr=1e-3)

    def loss_at_fixed_noise() -> float:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(123)
            return float(backbone.training_loss(batch)[0])

    before = loss_at_fixed_noise()
    for _ in range(30):
        loss, _ = backbone.training_loss(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert loss_at_fixed_noise() < 0.8 * before
