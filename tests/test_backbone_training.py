"""The contract every registered backbone keeps through the real entry points, on its tiny preset.

`bench train` completes at its budget marks and resumes exactly; `bench sample` colours a person's drawing with
the result; the loss goes down on one batch; weights of another architecture are refused in one sentence by
`bench sample` and `bench eval`. One body per property, parametrized over `backbone_names()`.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

from backbones import backbone_names, create_backbone
from bench.cli import app
from bench.config import resolve_config
from bench.rundir import RunDir

runner = CliRunner()


@dataclass(frozen=True)
class Recipe:
    """What a backbone's tiny run needs to be a few steps long, and what its saved control module says."""

    resolution: int = 64
    #: dollars that buy about eight steps of two images at the A10's assumed utilisation
    usd: str = "3.2e-7"
    #: learning rate and optimizer steps of the loss-goes-down check
    lr: float = 1e-3
    steps: int = 30
    #: values every ``train.jsonl`` line holds
    logged: tuple[str, ...] = ("mse",)


RECIPES = {
    "sd": Recipe(resolution=32, usd="1.2e-7"),
    "cascade": Recipe(usd="8e-8"),
    "if": Recipe(usd="3.2e-7", lr=2e-3, steps=25, logged=("mse", "vb")),
}
#: the hint's 5 channels + 4 for each of the tiny presets' 6 spread grids
HINT_CHANNELS = 5 + 4 * 6


def _recipe(name: str) -> Recipe:
    return RECIPES.get(name, Recipe())


def _sets(name: str, fast, *extra: str) -> list[str]:
    recipe = _recipe(name)
    overrides = fast(
        f"data.resolution={recipe.resolution}",
        "data.train_size=64",
        "optim.effective_batch=2",
        f"budget.usd={recipe.usd}",
        "budget.utilisation=0.4",
        *extra,
    )
    return [arg for s in overrides for arg in ("--set", s)]


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _weights(run: Path) -> dict[str, torch.Tensor]:
    """Every trained tensor of the newest checkpoint, by file and name."""
    control = RunDir(run).latest().control
    return {f"{f.relative_to(control)}:{k}": v for f in control.rglob("*.safetensors") for k, v in load_file(f).items()}


@pytest.fixture(scope="module", params=backbone_names())
def name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def run(name: str, fast, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete tiny run of ``name`` through `bench train` (text embeddings cached in the run's folder)."""
    root = tmp_path_factory.mktemp(f"run-{name}")
    cache = [f"model.text_cache_dir={root / 'text-cache'}"] if name == "if" else []
    _invoke("train", "--quiet", "--backbone", name, "--out", str(root / "full"), *_sets(name, fast, *cache))
    return root / "full"


@pytest.mark.slow
def test_a_tiny_run_completes_at_its_marks_and_resumes_exactly(name: str, run: Path, tmp_path: Path) -> None:
    done = RunDir(run)
    assert len(done.checkpoints()) == 4 and len(done.read_log()) >= 6
    assert set(_recipe(name).logged) <= set(done.read_log()[-1])
    assert list((run / "samples").glob("*.png"))
    config = json.loads((done.latest().control / "config.json").read_text())
    assert HINT_CHANNELS in (config.get("conditioning_channels"), config.get("hint_channels"))

    cut = tmp_path / "cut"
    shutil.copytree(run, cut)
    for checkpoint in RunDir(cut).checkpoints()[2:]:
        shutil.rmtree(checkpoint.path)
    (RunDir(cut).checkpoints_dir / "last").write_text(RunDir(cut).checkpoints()[-1].name)
    _invoke("train", "--quiet", "--resume", str(cut))
    a, b = _weights(run), _weights(cut)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _drawing(folder: Path) -> list[str]:
    """`bench sample`'s inputs: a line drawing and one blue stroke, 48 px (not the run's size)."""
    drawing = np.full((48, 48, 3), 255, np.uint8)
    drawing[8:40, 24] = 0
    Image.fromarray(drawing).save(folder / "lineart.png")
    strokes = np.zeros((48, 48, 4), np.uint8)
    strokes[10:20, 5:15] = (30, 30, 200, 255)
    Image.fromarray(strokes).save(folder / "strokes.png")
    return ["--lineart", str(folder / "lineart.png"), "--strokes", str(folder / "strokes.png")]


@pytest.mark.slow
def test_bench_sample_colors_a_drawing(name: str, run: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    _invoke("sample", str(run), *_drawing(tmp_path), "--prompt", "a blue square", "--out", str(out))
    side = _recipe(name).resolution
    assert np.asarray(Image.open(out)).shape == (side, side, 3)


@pytest.mark.slow
def test_weights_of_another_architecture_are_one_sentence(run: Path, tmp_path: Path) -> None:
    edited = tmp_path / "edited"
    shutil.copytree(run, edited)
    config = edited / "config.toml"
    text = config.read_text()  # one spread grid instead of six: the control module's first layer reads 9 channels
    grids = "hint_spread_grids = [2]\n"
    config.write_text(
        text.replace("[model]\n", "[model]\n" + grids) if "[model]\n" in text else f"{text}\n[model]\n{grids}"
    )
    for command in (["sample", str(edited), *_drawing(tmp_path)], ["eval", str(edited), "--no-photos"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, result.output
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "does not match" in errors[0] and "Traceback" not in result.output, errors


def test_loss_goes_down_on_one_batch(name: str, tmp_path: Path) -> None:
    from bench.data.eval_split import eval_batches

    recipe = _recipe(name)
    torch.manual_seed(0)
    cfg = resolve_config(name, "tiny", overrides=[f"data.resolution={recipe.resolution}", "data.eval_size=4"])
    batch = eval_batches(cfg, batch_size=4)[0]
    overrides = {"caption_dropout": 0.0, **({"text_cache_dir": str(tmp_path)} if name == "if" else {})}
    backbone = create_backbone(name, "tiny", recipe.resolution, overrides)
    backbone.train()
    optimizer = torch.optim.AdamW(list(backbone.trainable_parameters()), lr=recipe.lr)

    def loss_at_fixed_noise() -> float:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(123)
            return float(backbone.training_loss(batch)[0])

    before = loss_at_fixed_noise()
    for _ in range(recipe.steps):
        loss, _ = backbone.training_loss(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert loss_at_fixed_noise() < 0.8 * before
