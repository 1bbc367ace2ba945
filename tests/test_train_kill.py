"""A real `bench train` process killed with SIGKILL mid-run, then resumed, ends with the same weights."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from bench.rundir import RunDir

ROOT = Path(__file__).resolve().parents[1]
# the CLI with the test-only fake backbone registered (no production hook needed)
LAUNCH = (
    "import sys; sys.path.insert(0, {tests!r}); import backbones; "
    "backbones._REGISTRY['fake'] = 'fakes:FakeBackbone'; from bench.cli import main; main()"
).format(tests=str(ROOT / "tests"))
SETTINGS = [
    "data.resolution=16",
    "data.batch_size=2",
    "data.num_workers=1",
    "data.eval_size=2",
    "optim.effective_batch=4",
    "eval.steps=2",
    "budget.usd=3e-6",
    "budget.mark_every=0.1",
    "budget.utilisation=0.001",
]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def _final_weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(RunDir(path).latest().control / "net.safetensors"))


@pytest.mark.slow
def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    sets = [a for s in SETTINGS for a in ("--set", s)]
    base = [sys.executable, "-c", LAUNCH, "train", "--backbone", "fake", "--quiet"]
    full = subprocess.run([*base, "--out", str(tmp_path / "full"), *sets], env=_env(), capture_output=True, text=True)
    assert full.returncode == 0, full.stderr

    killed = tmp_path / "killed"
    proc = subprocess.Popen([*base, "--out", str(killed), *sets], env=_env(), stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(RunDir(killed).checkpoints()) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = RunDir(killed).checkpoints()
    assert 3 <= len(done) < 10, "the kill should land in the middle of the run"

    resumed = subprocess.run(
        [sys.executable, "-c", LAUNCH, "train", "--resume", str(killed), "--quiet"],
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    a, b = _final_weights(tmp_path / "full"), _final_weights(killed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [c.name for c in RunDir(killed).checkpoints()] == [c.name for c in RunDir(tmp_path / "full").checkpoints()]


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_says_how_to_resume(tmp_path: Path) -> None:
    sets = [a for s in SETTINGS for a in ("--set", s)]
    run = tmp_path / "run"
    cmd = [sys.executable, "-c", LAUNCH, "train", "--backbone", "fake", "--quiet", "--out", str(run), *sets]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (run / "train.jsonl").exists():
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "resume with: bench train --resume" in out
    assert RunDir(run).latest() is not None
