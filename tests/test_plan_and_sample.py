"""`bench plan` and `bench sample` on the fake backbone: figures present and sane, a user's drawing colored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import backbones
from bench.cli import app
from bench.config import resolve_config
from bench.plan import format_plan, make_plan
from bench.train import start_run, train_run

runner = CliRunner()


@pytest.fixture(autouse=True)
def fake_backbone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(backbones._REGISTRY, "fake", "fakes:FakeBackbone")


@pytest.mark.parametrize("measure", [True, False])
def test_plan_figures(measure: bool) -> None:
    cfg = resolve_config("fake", "tiny", overrides=["data.resolution=16", "optim.effective_batch=8"])
    plan = make_plan(cfg, measure=measure)
    assert plan.parameters_trainable > 0 and plan.parameters_total > plan.parameters_trainable
    assert plan.flops_per_sample > 0 and plan.a10_seconds_per_step > 0 and plan.usd_per_1000_steps > 0
    assert plan.activation_bytes_per_sample > 0
    assert plan.memory_bytes(16) > plan.memory_bytes(1)
    assert (plan.measured_seconds_per_step is not None) == measure
    lines = format_plan(plan, [1, 8, 16])
    assert any("fits a 24 GB A10" in line for line in lines) and len(lines) >= 9


def test_plan_command_and_bad_range() -> None:
    result = runner.invoke(app, ["plan", "--backbone", "fake", "--preset", "tiny", "--set", "data.resolution=16"])
    assert result.exit_code == 0, result.output
    assert "FLOPs per training sample" in result.output
    result = runner.invoke(app, ["plan", "--backbone", "fake", "--batch-sizes", "x"])
    assert result.exit_code == 2 and "batch-sizes" in result.output


def test_sample_colors_a_user_drawing(tmp_path: Path) -> None:
    cfg = resolve_config(
        "fake",
        "tiny",
        overrides=[
            "data.resolution=16",
            "data.batch_size=2",
            "data.num_workers=0",
            "data.eval_size=2",
            "optim.effective_batch=2",
            "eval.steps=2",
            "budget.usd=1e-7",
            "budget.utilisation=0.001",
        ],
    )
    run = start_run(cfg, tmp_path / "run")
    train_run(cfg, run, resume=False, quiet=True)
    drawing = np.full((40, 40, 3), 255, np.uint8)
    drawing[10:30, 20] = 0
    Image.fromarray(drawing).save(tmp_path / "lineart.png")
    strokes = np.zeros((40, 40, 4), np.uint8)
    strokes[5:10, 5:15] = (200, 30, 30, 255)
    Image.fromarray(strokes).save(tmp_path / "strokes.png")
    out = tmp_path / "out.png"
    args = [
        "sample",
        str(run.path),
        "--lineart",
        str(tmp_path / "lineart.png"),
        "--strokes",
        str(tmp_path / "strokes.png"),
    ]
    result = runner.invoke(app, [*args, "--prompt", "a red mark", "--out", str(out)])
    assert result.exit_code == 0, result.output
    first = np.asarray(Image.open(out))
    assert first.shape == (16, 16, 3)
    runner.invoke(app, [*args, "--out", str(tmp_path / "again.png"), "--prompt", "a red mark"])
    assert np.array_equal(first, np.asarray(Image.open(tmp_path / "again.png")))  # same seed, same image
    bad = runner.invoke(app, [*args, "--checkpoint", "usd-nope", "--out", str(out)])
    assert bad.exit_code == 2 and "no complete checkpoint" in bad.output
    no_alpha = runner.invoke(
        app,
        [
            "sample",
            str(run.path),
            "--lineart",
            str(tmp_path / "lineart.png"),
            "--strokes",
            str(tmp_path / "lineart.png"),
            "--out",
            str(out),
        ],
    )
    assert no_alpha.exit_code == 2 and "alpha" in no_alpha.output
