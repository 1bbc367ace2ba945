"""The tiny `if` backbone through the real training loop: trains, resumes exactly, samples, reuses the text cache."""

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
from bench.train import StopSignal, Trainer, start_run, train_run

runner = CliRunner()
SMALL = [
    "data.resolution=64",
    "data.batch_size=2",
    "data.num_workers=0",
    "data.eval_size=2",
    "optim.effective_batch=2",
    "eval.steps=2",
    "budget.usd=3.2e-7",  # about 8 steps of ~2.4 GFLOP at the A10 fp32 price
    "budget.mark_every=0.25",
]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    control = RunDir(run).latest().control
    weights = load_file(str(control / "diffusion_pytorch_model.safetensors"))
    base = load_file(str(control / "base_unet" / "diffusion_pytorch_model.safetensors"))
    return {**weights, **{f"base.{k}": v for k, v in base.items()}}


@pytest.mark.slow
def test_if_tiny_run_resumes_exactly_reuses_text_cache_and_colors_a_drawing(tmp_path: Path) -> None:
    cfg = resolve_config("if", "tiny", overrides=[*SMALL, f"model.text_cache_dir={tmp_path / 'text-cache'}"])
    full = start_run(cfg, tmp_path / "full")
    result = train_run(cfg, full, resume=False, quiet=True)
    assert result.steps >= 6
    assert len(RunDir(full.path).checkpoints()) == 4
    assert result.samples_file is not None and result.samples_file.is_file()
    log = RunDir(full.path).read_log()
    assert {"mse", "vb"} <= set(log[-1])

    from backbones.if_control import IFControlNet

    control = IFControlNet.from_pretrained(RunDir(full.path).latest().control, use_safetensors=True)
    assert control.config.hint_channels == 5 + 4 * 6  # the hint + the tiny preset's 6 spread grids

    cut = tmp_path / "cut"
    shutil.copytree(full.path, cut)
    for checkpoint in RunDir(cut).checkpoints()[2:]:
        shutil.rmtree(checkpoint.path)
    (RunDir(cut).checkpoints_dir / "last").write_text(RunDir(cut).checkpoints()[-1].name)
    train_run(cfg, RunDir(cut), resume=True, quiet=True)
    a, b = _weights(full.path), _weights(cut)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    again = Trainer(cfg, start_run(cfg, tmp_path / "again"), quiet=True)
    with StopSignal() as stop:
        repeat = again.train(stop)
    assert repeat.steps == result.steps  # the same budget buys the same steps, cache warm or cold
    assert again.backbone.embedder.cache.encoder_calls == 0  # every caption came from the first run's cache

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
    assert np.asarray(Image.open(out)).shape == (64, 64, 3)


@pytest.mark.slow
def test_if_loss_goes_down_on_one_batch(tmp_path: Path) -> None:
    from backbones import create_backbone
    from backbones.base import Batch
    from bench.data.loader import eval_batches

    torch.manual_seed(0)
    cfg = resolve_config("if", "tiny", overrides=["data.eval_size=4"])
    batch: Batch = eval_batches(cfg, batch_size=4)[0]
    backbone = create_backbone("if", "tiny", 64, {"caption_dropout": 0.0, "text_cache_dir": str(tmp_path)})
    backbone.train()
    optimizer = torch.optim.AdamW(list(backbone.trainable_parameters()), lr=2e-3)

    def loss_at_fixed_noise() -> float:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(123)
            return float(backbone.training_loss(batch)[0])

    before = loss_at_fixed_noise()
    for _ in range(25):
        loss, _ = backbone.training_loss(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert loss_at_fixed_noise() < 0.8 * before
