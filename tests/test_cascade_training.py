"""The tiny `cascade` backbone through the real entry points: `bench train` completes, resumes exactly, samples;
`bench sample` colors a drawing with the result; the loss goes down on one batch."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

import backbones
from backbones import tiny_codec
from bench.cli import app
from bench.rundir import RunDir

runner = CliRunner()
SMALL = [
    "data.num_workers=0",
    "data.eval_size=2",
    "eval.steps=2",
    "budget.mark_every=0.25",
]


@pytest.fixture(autouse=True, scope="module")
def cascade_ready() -> Iterator[None]:
    """Registered as `cascade`; until `bench codec fit` has shipped the cascade codec, a random one stands in."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(backbones._REGISTRY, "cascade", "backbones.cascade:StableCascadeControl")
        if not tiny_codec.weight_paths("cascade")[0].is_file():

            def stand_in(name: str, weights_dir: object = None) -> object:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(1234)
                    vae = tiny_codec.build_codec(name)
                vae.requires_grad_(False)
                return vae.eval()

            patch.setattr(tiny_codec, "load_codec", stand_in)
        yield


def _weights(run: Path) -> dict[str, torch.Tensor]:
    control = RunDir(run).latest().control
    weights = load_file(str(control / "diffusion_pytorch_model.safetensors"))
    stage_c = load_file(str(control / "stage_c" / "diffusion_pytorch_model.safetensors"))
    return {**weights, **{f"stage_c.{k}": v for k, v in stage_c.items()}}


def _train(*args: str) -> None:
    result = runner.invoke(app, ["train", "--quiet", *args])
    assert result.exit_code == 0, result.output


@pytest.mark.slow
def test_cascade_tiny_run_completes_resumes_exactly_and_colors_a_drawing(tmp_path: Path) -> None:
    sets = [arg for s in SMALL for arg in ("--set", s)]
    full = tmp_path / "full"
    _train("--backbone", "cascade", "--budget-usd", "0.000001", "--out", str(full), *sets)
    run = RunDir(full)
    assert len(run.checkpoints()) == 4 and len(run.read_log()) >= 8
    assert list((full / "samples").glob("*.png"))
    from backbones.cascade_control import CascadeControlNet

    # the hint + the tiny preset's 6 spread grids
    assert CascadeControlNet.from_pretrained(run.latest().control).config.hint_channels == 5 + 4 * 6

    cut = tmp_path / "cut"
    shutil.copytree(full, cut)
    for checkpoint in RunDir(cut).checkpoints()[2:]:
        shutil.rmtree(checkpoint.path)
    (RunDir(cut).checkpoints_dir / "last").write_text(RunDir(cut).checkpoints()[-1].name)
    _train("--resume", str(cut))
    a, b = _weights(full), _weights(cut)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    drawing = np.full((64, 64, 3), 255, np.uint8)
    drawing[8:56, 32] = 0
    Image.fromarray(drawing).save(tmp_path / "lineart.png")
    strokes = np.zeros((64, 64, 4), np.uint8)
    strokes[10:20, 5:15] = (30, 30, 200, 255)
    Image.fromarray(strokes).save(tmp_path / "strokes.png")
    out = tmp_path / "out.png"
    args = ["sample", str(full), "--lineart", str(tmp_path / "lineart.png"), "--strokes", str(tmp_path / "strokes.png")]
    outcome = runner.invoke(app, [*args, "--prompt", "a blue square", "--out", str(out)])
    assert outcome.exit_code == 0, outcome.output
    assert np.asarray(Image.open(out)).shape == (64, 64, 3)


def test_cascade_loss_goes_down_on_one_batch() -> None:
    from backbones import create_backbone
    from bench.config import resolve_config
    from bench.data.loader import eval_batches

    torch.manual_seed(0)
    cfg = resolve_config("cascade", "tiny", overrides=["data.eval_size=4"])
    batch = eval_batches(cfg, batch_size=4)[0]
    backbone = create_backbone("cascade", "tiny", 64, {"caption_dropout": 0.0})
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
