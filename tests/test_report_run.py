"""`bench run`: train each backbone on one budget, evaluate, report; resumes; one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import backbones
from bench.cli import app
from bench.rundir import RunDir
from eval.weights import WEIGHTS_ENV

runner = CliRunner()
FAST = [
    "data.resolution=16",
    "data.batch_size=2",
    "data.num_workers=0",
    "data.eval_size=2",
    "optim.effective_batch=4",
    "eval.steps=2",
    "budget.mark_every=0.5",
    "budget.utilisation=0.001",
]


@pytest.fixture(autouse=True)
def fake_backbones(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(backbones._REGISTRY, "fake", "fakes:FakeBackbone")
    monkeypatch.setitem(backbones._REGISTRY, "fake2", "fakes:FakeBackbone")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)


def _run(out: Path, *extra: str) -> object:
    sets = [arg for s in FAST for arg in ("--set", s)]
    args = ["run", "--backbones", "fake,fake2", "--budget-usd", "1e-6", "--out", str(out), "--quiet", *sets]
    return runner.invoke(app, [*args, "--no-photos", "--adherence-strokes", "1,2", *extra])


def test_run_trains_each_backbone_evaluates_and_reports_then_resumes(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    result = _run(out)
    assert result.exit_code == 0, result.output
    for name in ("fake", "fake2"):
        run = RunDir(out / name)
        assert run.latest() is not None and run.latest().usd >= 1e-6
        assert (out / name / "eval.csv").is_file()
    assert (out / "report" / "report.md").is_file() and (out / "report" / "report.html").is_file()
    markdown = (out / "report" / "report.md").read_text()
    assert "fake2" in markdown and "Throughput and cost" in markdown
    assert markdown.count("sampled in 2 steps at guidance") == 2  # each run's sampling settings are stated

    again = _run(out)
    assert again.exit_code == 0, again.output
    assert again.output.count("already spent") == 2 and "0 checkpoint x eval-set jobs" in again.output


def test_run_bad_input_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    result = runner.invoke(app, ["run", "--backbones", "fake,nosuch", "--out", str(out)])
    assert result.exit_code == 2 and "unknown backbone 'nosuch'" in result.output and "valid:" in result.output
    assert not out.exists()
    result = runner.invoke(app, ["run", "--backbones", "fake", "--budget-usd", "0", "--out", str(out)])
    assert result.exit_code == 2 and "more than $0" in result.output


def test_run_refuses_a_different_budget_for_existing_runs(tmp_path: Path) -> None:
    from bench.config import resolve_config
    from bench.train import start_run

    out = tmp_path / "bench"
    start_run(resolve_config("fake", "tiny", overrides=[*FAST, "budget.usd=1e-6"]), out / "fake")
    result = _run(out, "--budget-usd", "2e-6")
    assert result.exit_code == 2 and "budget" in result.output and "another --out" in result.output
