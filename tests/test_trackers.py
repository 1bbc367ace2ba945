"""log.report_to: TensorBoard event files hold what train.jsonl holds; unknown or missing trackers are refused."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from conftest import fast_overrides

import backbones
from bench.config import resolve_config
from bench.core.errors import UserError
from bench.rundir import RunDir
from bench.trackers import TRACKERS_DIR, check_report_to
from bench.train import start_run, train_run, validate_config


@pytest.fixture(autouse=True)
def fake_backbone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(backbones._REGISTRY, "fake", "fakes:FakeBackbone")


def test_tensorboard_event_files_hold_the_logged_steps(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = resolve_config("fake", "tiny", overrides=[*fast_overrides(), "log.report_to=tensorboard"])
    run = start_run(cfg, tmp_path / "run")
    train_run(cfg, run, resume=False, quiet=True)
    logged = RunDir(run.path).read_log()
    reader = EventAccumulator(str(run.path / TRACKERS_DIR / run.path.name))  # accelerate names it after the run
    reader.Reload()
    losses = reader.Scalars("loss")
    assert [e.step for e in losses] == [r["step"] for r in logged]
    assert [e.value for e in losses] == pytest.approx([r["loss"] for r in logged], rel=1e-6)


def test_an_unknown_or_missing_tracker_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UserError, match="log.report_to must be one of none, tensorboard, wandb"):
        validate_config(resolve_config("fake", "tiny", overrides=["log.report_to=mlflow"]))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match=r"needs wandb: pip install 'strokebench\[trackers\]'"):
        check_report_to("wandb")
