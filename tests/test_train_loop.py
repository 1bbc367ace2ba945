"""The training loop on a fake backbone: layout, budget marks, resume, signals, NaN, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import fast_overrides
from safetensors.torch import load_file
from typer.testing import CliRunner

import backbones
from bench.cli import app
from bench.config import resolve_config
from bench.core.errors import UserError
from bench.rundir import RunDir, mark_name
from bench.train import StopSignal, Trainer, start_run, train_run

runner = CliRunner()
FAST = fast_overrides()


@pytest.fixture(autouse=True)
def fake_backbone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(backbones._REGISTRY, "fake", "fakes:FakeBackbone")


def _cfg(*extra: str):
    return resolve_config("fake", "tiny", overrides=[*FAST, *extra])


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(RunDir(path).latest().control / "net.safetensors"))


def test_run_directory_layout_and_marks(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "train",
            "--backbone",
            "fake",
            "--out",
            str(tmp_path / "run"),
            "--quiet",
            *sum([["--set", s] for s in FAST], []),
        ],
    )
    assert result.exit_code == 0, result.output
    run = RunDir(tmp_path / "run")
    for name in ("config.toml", "env.json", "budget.json", "train.jsonl"):
        assert run.file(name).is_file(), name
    checkpoints = run.checkpoints()
    assert [c.name for c in checkpoints] == [mark_name(1e-6 * f) for f in (0.25, 0.5, 0.75, 1.0)]
    assert all((c.control / "net.safetensors").is_file() and (c.path / "COMPLETE").is_file() for c in checkpoints)
    assert (run.checkpoints_dir / "last").read_text().strip() == checkpoints[-1].name
    assert checkpoints[-1].usd >= 1e-6 and [c.step for c in checkpoints] == sorted(c.step for c in checkpoints)
    budget = json.loads(run.file("budget.json").read_text())
    assert budget["method"] == "flops" and budget["flops_per_step"] > 0 and budget["usd_spent"] >= 1e-6
    log = run.read_log()
    assert [r["step"] for r in log] == list(range(1, len(log) + 1))
    assert {"loss", "lr", "usd", "samples_per_s", "data_wait"} <= set(log[0])
    assert list((run.path / "samples").glob("*.png"))


def test_resume_from_a_middle_checkpoint_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    cfg = _cfg()
    full = start_run(cfg, tmp_path / "full")
    train_run(cfg, full, resume=False, quiet=True)
    cut = start_run(cfg, tmp_path / "cut")
    train_run(cfg, cut, resume=False, quiet=True)
    # simulate a kill after the second mark: drop the later checkpoints, leave a half-written one behind
    import shutil

    for checkpoint in RunDir(cut.path).checkpoints()[2:]:
        shutil.rmtree(checkpoint.path)
    (cut.checkpoints_dir / ".tmp-usd-half").mkdir()
    (cut.checkpoints_dir / "usd-00000.00000099").mkdir()  # no COMPLETE marker: ignored
    assert len(RunDir(cut.path).checkpoints()) == 2
    train_run(cfg, cut, resume=True, quiet=True)
    a, b = _weights(full.path), _weights(cut.path)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not (cut.checkpoints_dir / ".tmp-usd-half").exists()
    steps = [r["step"] for r in RunDir(cut.path).read_log()]
    assert steps == sorted(set(steps))  # re-done steps are not logged twice


def test_stop_signal_saves_a_checkpoint_first(tmp_path: Path) -> None:
    cfg = _cfg()
    run = start_run(cfg, tmp_path / "run")
    trainer = Trainer(cfg, run, quiet=True)
    stop = StopSignal()
    stop.received = 15  # as if SIGTERM arrived during the first step
    result = trainer.train(stop)
    assert result.interrupted and result.steps == 1
    assert run.latest() is not None and run.latest().step == 1


def test_nan_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["train", "--backbone", "fake", "--out", str(out), "--quiet", "--set", "model.nan_after=40"]
    result = runner.invoke(app, [*args, *[arg for s in FAST for arg in ("--set", s)]])
    assert result.exit_code == 2
    assert "loss became nan at step" in result.output and "last good checkpoint" in result.output
    assert RunDir(out).latest() is not None


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--backbone", "nosuch"], "valid"),
        (["--backbone", "fake", "--preset", "huge"], "unknown preset"),
        (["--backbone", "fake", "--budget-usd", "0"], "more than $0"),
        (["--backbone", "fake", "--budget-usd", "-1"], "more than $0"),
        (["--backbone", "fake", "--set", "optim.effective_batch=3"], "multiple"),
        (["--backbone", "fake", "--data", "nope:x"], "unknown data source"),
        (["--backbone", "fake", "--set", "model.nosuch=1"], "model.nosuch"),
        (["--backbone", "fake", "--set", "model.cpu_threads=-1"], "model.cpu_threads"),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, args: list[str], needle: str) -> None:
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "r"), *args])
    assert result.exit_code == 2, result.output
    assert needle in result.output and "Traceback" not in result.output
    assert not (tmp_path / "r").exists()  # nothing written for a rejected run


def test_resume_errors(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--resume", str(tmp_path)])
    assert result.exit_code == 2 and "not a run directory" in result.output
    result = runner.invoke(app, ["train", "--resume", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "not found" in result.output
    run = start_run(_cfg(), tmp_path / "run")
    result = runner.invoke(app, ["train", "--resume", str(run.path), "--backbone", "sd"])
    assert result.exit_code == 2 and "own config" in result.output
    result = runner.invoke(app, ["train", "--out", str(run.path), "--backbone", "fake"])
    assert result.exit_code == 2 and "already holds a run" in result.output


def test_the_optimizer_is_fused_adamw_and_steps_like_the_plain_one() -> None:
    """The fused AdamW (one kernel over all tensors) must take the same step as torch's reference loop."""
    from bench.train import build_optimizer

    cfg = _cfg("optim.weight_decay=0.01")
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(7))]
    twins = [torch.nn.Parameter(p.detach().clone()) for p in params]
    fused = build_optimizer(cfg, params)
    plain = torch.optim.AdamW(twins, lr=cfg.optim.lr, weight_decay=0.01, foreach=False)
    assert fused.defaults["fused"] is True
    for _ in range(3):
        for group in (params, twins):
            for p in group:
                p.grad = torch.ones_like(p) * p.detach().sum()
        fused.step()
        plain.step()
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(params, twins, strict=True))


def test_a_backbones_cpu_threads_apply_to_its_training_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`model.cpu_threads` sets the threads of the training steps; the process gets its own count back after."""
    import fakes

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    seen: list[int] = []
    original = fakes.FakeBackbone.training_loss

    def counting(self, batch):
        seen.append(torch.get_num_threads())
        return original(self, batch)

    monkeypatch.setattr(fakes.FakeBackbone, "training_loss", counting)
    before = torch.get_num_threads()
    cfg = _cfg("model.cpu_threads=3")
    run = start_run(cfg, tmp_path / "run")
    assert json.loads((run.path / "env.json").read_text())["cpu_threads"] == 3  # what the steps will use
    train_run(cfg, run, resume=False, quiet=True)
    assert seen and set(seen) == {3}
    assert torch.get_num_threads() == before


def test_a_checkpoint_of_an_earlier_format_is_refused_in_one_sentence(tmp_path: Path) -> None:
    from bench.training_state import load_state, save_state

    cfg = _cfg()
    run = start_run(cfg, tmp_path / "run")
    train_run(cfg, run, resume=False, quiet=True)
    latest = RunDir(run.path).latest()
    state = load_state(latest.training_state)
    state["rng"], state["data"] = state["rng"][0], state["data"][0]  # one process's state, as before
    save_state(latest.training_state, state)
    with pytest.raises(UserError, match="earlier strokebench"):
        train_run(cfg, run, resume=True, quiet=True)
