"""`bench eval` end to end on run directories trained by the real loop with the fake backbone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import torchvision
from conftest import fast_overrides
from typer.testing import CliRunner

import backbones
from bench.cli import app
from bench.config import resolve_config
from bench.results import read_rows
from bench.rundir import RunDir
from bench.sample_store import read_scores
from bench.train import start_run, train_run
from eval.weights import ALEXNET, WEIGHTS_ENV

runner = CliRunner()
FAST = fast_overrides("data.eval_size=3", "budget.mark_every=0.5")


@pytest.fixture(autouse=True)
def fake_backbone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(backbones._REGISTRY, "fake", "fakes:FakeBackbone")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))  # an empty hub cache: no LPIPS/FID weights
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One trained fake run (two checkpoints), copied by each test that changes it."""
    backbones._REGISTRY["fake"] = "fakes:FakeBackbone"
    try:
        cfg = resolve_config("fake", "tiny", overrides=FAST)
        run = start_run(cfg, tmp_path_factory.mktemp("trained") / "run")
        train_run(cfg, run, resume=False, quiet=True)
    finally:
        backbones._REGISTRY.pop("fake", None)
    return run.path


@pytest.fixture
def run_dir(trained: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(trained, tmp_path / "run"))


def _eval(*args: str) -> object:
    return runner.invoke(app, ["eval", "--quiet", "--adherence-strokes", "1,4", *args])


def test_eval_writes_rows_samples_and_skips_what_is_scored(run_dir: Path) -> None:
    result = _eval(str(run_dir))
    assert result.exit_code == 0, result.output
    assert "LPIPS is unavailable" in result.output and ALEXNET.filename in result.output
    rows = read_rows(run_dir / "eval.csv")
    checkpoints = RunDir(run_dir).checkpoints()
    assert {r.checkpoint for r in rows} == {c.name for c in checkpoints}
    assert {r.eval_set for r in rows} == {"builtin:shapes", "builtin:photos"}
    main = [r for r in rows if r.strokes is None and r.checkpoint == checkpoints[0].name]
    by_metric = {(r.eval_set, r.metric): r for r in main}
    stroke = by_metric[("builtin:shapes", "stroke_de")]
    assert stroke.n == 3 and stroke.ci_low <= stroke.mean <= stroke.ci_high and stroke.usd == checkpoints[0].usd
    assert by_metric[("builtin:photos", "psnr")].n == 3  # photos are capped at data.eval_size too
    for metric in ("lpips", "fid", "kid"):
        row = by_metric[("builtin:shapes", metric)]
        assert row.status == "unavailable" and row.note and row.mean != row.mean  # NaN: no number
    assert by_metric[("builtin:shapes", "sampling_s_per_image")].mean > 0
    assert by_metric[("builtin:shapes", "sampling_usd_per_1k")].mean > 0
    # adherence rows: the newest checkpoint only, for each stroke count
    adherence = {(r.checkpoint, r.strokes) for r in rows if r.strokes is not None}
    assert adherence == {(checkpoints[-1].name, 1), (checkpoints[-1].name, 4)}
    # colour-free captions and counterfactual strokes: stroke metrics at the newest checkpoint only
    variants = {(r.checkpoint, r.variant, r.metric) for r in rows if r.variant}
    assert {v for _, v, _ in variants} == {"colour-free", "counterfactual"}
    assert {c for c, _, _ in variants} == {checkpoints[-1].name} and {m for _, _, m in variants} >= {"stroke_de"}
    keys, scores = read_scores(run_dir, "builtin:shapes", checkpoints[0].name)
    assert len(keys) == 3 and len(scores["stroke_de"]) == 3 and "psnr" in scores  # per-item scores for pairing
    assert read_scores(run_dir, "builtin:shapes", checkpoints[-1].name, variant="counterfactual") is not None
    samples = run_dir / "samples" / "eval"
    assert len(list((samples / "builtin-shapes" / checkpoints[0].name).glob("*.png"))) == 3
    assert (samples / "builtin-shapes" / "inputs" / "0000-hint.png").is_file()
    assert (samples / "builtin-shapes-strokes4" / checkpoints[-1].name / "0002.png").is_file()

    again = _eval(str(run_dir))
    assert again.exit_code == 0 and "0 checkpoint x eval-set jobs" in again.output
    assert read_rows(run_dir / "eval.csv") == rows

    forced = _eval(str(run_dir), "--force", "--checkpoint", "last", "--no-photos", "--adherence-strokes", "none",
                   "--no-variants")  # fmt: skip
    assert forced.exit_code == 0 and "1 checkpoint x eval-set jobs" in forced.output
    assert len(read_rows(run_dir / "eval.csv")) == len(rows)  # replaced, not duplicated


def test_installed_weights_rescore_saved_samples_without_sampling(run_dir: Path, tmp_path: Path) -> None:
    assert _eval(str(run_dir), "--no-photos").exit_code == 0
    weights = tmp_path / "weights"
    weights.mkdir()
    features = torchvision.models.alexnet(weights=None).features.state_dict()
    torch.save({f"features.{k}": v for k, v in features.items()}, weights / ALEXNET.filename)
    result = _eval(str(run_dir), "--no-photos", "--weights-dir", str(weights))
    assert result.exit_code == 0, result.output
    assert "0 sampled, 2 re-scored" in result.output
    lpips = [r for r in read_rows(run_dir / "eval.csv") if r.metric == "lpips"]
    assert lpips and all(r.status == "ok" and r.mean >= 0 for r in lpips)


def test_bad_run_directories_are_one_sentence(run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty").mkdir()
    result = _eval(str(tmp_path / "empty"))
    assert result.exit_code == 2 and "not a run directory" in result.output

    no_checkpoints = tmp_path / "fresh"
    start_run(resolve_config("fake", "tiny", overrides=FAST), no_checkpoints)
    result = _eval(str(no_checkpoints))
    assert result.exit_code == 2 and "no complete checkpoint" in result.output

    config = run_dir / "config.toml"
    config.write_text(config.read_text().replace("[model]", "[model]\nwidth = 5") if "[model]" in config.read_text()
                      else config.read_text() + "\n[model]\nwidth = 5\n")  # fmt: skip
    result = _eval(str(run_dir), "--no-photos")
    assert result.exit_code == 2 and "does not fit the run's config.toml" in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output

    monkeypatch.setattr("bench.data.eval_split.eval_batches", lambda *a, **k: [])
    result = _eval(str(no_checkpoints.parent / "run"))
    assert result.exit_code == 2 and "eval split of builtin:shapes is empty" in result.output

    result = _eval(str(run_dir), "--adherence-strokes", "a,b")
    assert result.exit_code == 2 and "--adherence-strokes" in result.output


def test_spread_keeps_the_first_and_the_newest_checkpoint() -> None:
    from bench.eval_plan import spread

    marks = list(range(10))
    assert spread(marks, 5) == [0, 2, 4, 7, 9]  # type: ignore[arg-type]
    assert spread(marks, 1) == [9] and spread(marks, 0) == marks and spread(marks[:3], 5) == marks[:3]  # type: ignore[arg-type]
