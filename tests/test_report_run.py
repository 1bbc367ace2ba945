"""`bench run`: train each backbone on one budget, evaluate, report; resumes; one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import fast_overrides
from typer.testing import CliRunner

import backbones
from bench.cli import app
from bench.rundir import RunDir
from eval.weights import WEIGHTS_ENV

runner = CliRunner()
FAST = fast_overrides("budget.mark_every=0.5", drop=("budget.usd",))


@pytest.fixture(autouse=True)
def fake_backbones(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(backbones._REGISTRY, "fake", "fakes:FakeBackbone")
    monkeypatch.setitem(backbones._REGISTRY, "fake2", "fakes:FakeBackbone")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)


def _run(out: Path, *extra: str) -> object:
    sets = [arg for s in FAST for arg in ("--set", s)]
    args = ["run", "--backbones", "fake,fake2", "--budget-usd", "1e-6", "--out", str(out), "--quiet", *sets]
    if "--seeds" not in extra:
        args += ["--seeds", "1", "--jobs", "1"]
    return runner.invoke(app, [*args, "--no-photos", "--adherence-strokes", "1,2", *extra])


def test_run_trains_each_backbone_evaluates_and_reports_then_resumes(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    result = _run(out)
    assert result.exit_code == 0, result.output
    for name in ("fake", "fake2"):
        run = RunDir(out / name / "seed0")
        assert run.latest() is not None and run.latest().usd >= 1e-6
        assert (run.path / "eval.csv").is_file()
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
    start_run(resolve_config("fake", "tiny", overrides=[*FAST, "budget.usd=1e-6"]), out / "fake" / "seed0")
    result = _run(out, "--budget-usd", "2e-6")
    assert result.exit_code == 2 and "budget" in result.output and "another --out" in result.output


def test_run_trains_each_seed_in_its_own_directory_on_parallel_workers(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    result = _run(out, "--seeds", "2", "--jobs", "2")
    assert result.exit_code == 0, result.output
    assert "2 at a time" in result.output
    from bench.config import read_run_config

    for name in ("fake", "fake2"):
        for seed in (0, 1):
            run = RunDir(out / name / f"seed{seed}")
            assert read_run_config(run.file("config.toml")).seed == seed
            assert run.latest() is not None and (run.path / "eval.csv").is_file()
    # the seeds train different models: their first logged losses differ
    logs = [(out / "fake" / f"seed{s}" / "train.jsonl").read_text().splitlines()[0] for s in (0, 1)]
    assert logs[0] != logs[1]
    # the report pairs the backbones over both seeds and carries the $0 reference rows bench run scored
    assert (out / "references" / "eval.csv").is_file()
    markdown = (out / "report" / "report.md").read_text()
    assert "Pairwise differences" in markdown
    for reference in ("oracle", "mean-fill", "strokes-on-gray", "propagate"):
        assert reference in markdown


@pytest.mark.parametrize(
    ("seeds", "message"),
    [("0", "at least one seed"), ("1,2,1", "seed 1 is given twice"), ("x", "give a count"), ("-1", "give a count")],
)
def test_run_refuses_bad_seeds_in_one_line(tmp_path: Path, seeds: str, message: str) -> None:
    result = runner.invoke(app, ["run", "--backbones", "fake", "--seeds", seeds, "--out", str(tmp_path / "b")])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "b").exists()


def test_run_refuses_a_seed_override_and_the_old_layout(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "--backbones", "fake", "--set", "seed=4", "--out", str(tmp_path / "b")])
    assert result.exit_code == 2 and "--seeds" in result.output
    from bench.config import resolve_config
    from bench.train import start_run

    start_run(resolve_config("fake", "tiny", overrides=FAST), tmp_path / "old" / "fake")
    result = _run(tmp_path / "old")
    assert result.exit_code == 2 and "one seed per backbone" in result.output


def test_parallel_workers_split_the_cores_unless_the_user_chose_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import run_pool

    monkeypatch.setattr(run_pool, "cpu_cores", lambda: 8)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert run_pool.threads_per_job(2) == 4 and run_pool.threads_per_job(16) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert run_pool.threads_per_job(2) == 3
    assert run_pool.parallel_jobs(0, runs=9, flop_metered=True) == (1 if run_pool.torch.cuda.is_available() else 8)
    assert run_pool.parallel_jobs(0, runs=9, flop_metered=False) == 1
    assert run_pool.parallel_jobs(4, runs=2, flop_metered=False) == 2


def test_a_stopped_run_starts_no_further_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    import bench.train

    calls = []

    def stopped(cfg, run, resume, quiet):  # Ctrl-C arrived during the first training
        calls.append(cfg.backbone)
        return types.SimpleNamespace(interrupted=True, usd=0.0)

    monkeypatch.setattr(bench.train, "train_run", stopped)
    result = _run(tmp_path / "bench")
    assert result.exit_code == 130 and calls == ["fake"]
    assert "run the same command again to resume" in result.output
