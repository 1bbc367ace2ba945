"""The budget-keyed learning-rate schedule: warmup, the anneal's shape, and a resumed run following it exactly."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import torch
from test_train_loop import FAST, _weights

import backbones
from bench.config import resolve_config
from bench.core.errors import UserError
from bench.lr_schedule import lr_factor
from bench.rundir import RunDir
from bench.train import start_run, train_run


@pytest.fixture(autouse=True)
def fake_backbone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(backbones._REGISTRY, "fake", "fakes:FakeBackbone")


def test_factor_warms_up_then_anneals_over_the_budgets_end() -> None:
    assert lr_factor(0, 0.0, 4, "constant", 1.0) == 0.25
    assert lr_factor(9, 0.99, 4, "constant", 1.0) == 1.0
    assert lr_factor(9, 0.5, 4, "linear", 1.0) == pytest.approx(0.5)
    assert lr_factor(9, 0.5, 4, "cosine", 1.0) == pytest.approx(0.5)
    assert lr_factor(9, 0.25, 4, "cosine", 1.0) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    # decay_share 0.2: full rate until 80 % of the budget, then down to zero at the budget
    assert lr_factor(9, 0.79, 4, "linear", 0.2) == 1.0
    assert lr_factor(9, 0.9, 4, "linear", 0.2) == pytest.approx(0.5)
    assert lr_factor(9, 1.0, 4, "cosine", 0.2) == pytest.approx(0.0)
    assert lr_factor(1, 0.9, 4, "linear", 0.2) == pytest.approx(0.5 * 0.5)  # warmup and anneal multiply
    with pytest.raises(ValueError, match="lr_decay"):
        lr_factor(0, 0.0, 1, "step", 1.0)


@pytest.mark.parametrize(
    ("override", "needle"), [("optim.lr_decay=step", "lr_decay"), ("optim.decay_share=0", "decay_share")]
)
def test_bad_settings_are_one_sentence(override: str, needle: str) -> None:
    with pytest.raises(UserError, match=needle):
        resolve_config("fake", "tiny", overrides=[override])


def test_a_run_anneals_to_zero_and_resumes_on_the_same_rates(tmp_path: Path) -> None:
    cfg = resolve_config("fake", "tiny", overrides=[*FAST, "optim.lr_decay=linear", "optim.decay_share=0.5"])
    full = start_run(cfg, tmp_path / "full")
    train_run(cfg, full, resume=False, quiet=True)
    log = RunDir(full.path).read_log()
    rates = [r["lr"] for r in log]
    peak = cfg.optim.lr
    half = next(i for i, r in enumerate(log) if r["usd"] >= 0.5 * cfg.budget.usd)
    assert max(rates[: half - 1]) == pytest.approx(peak)  # full rate through the first half (after warmup)
    assert rates[-1] < 0.1 * peak and rates[half:] == sorted(rates[half:], reverse=True)
    cut = start_run(cfg, tmp_path / "cut")
    train_run(cfg, cut, resume=False, quiet=True)
    for checkpoint in RunDir(cut.path).checkpoints()[2:]:  # killed in the anneal, after the second of four marks
        shutil.rmtree(checkpoint.path)
    train_run(cfg, cut, resume=True, quiet=True)
    a, b = _weights(full.path), _weights(cut.path)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["lr"] for r in RunDir(cut.path).read_log()] == rates
