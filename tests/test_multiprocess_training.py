"""A tiny `sd` run on 2 CPU processes (accelerate launch, gloo) against the same run on 1 process.

Same global batch: 2 processes x batch 2 x no accumulation vs 1 process x batch 2 x accumulation 2. The
2-process run is launched exactly as README says; an entry script records each process's batch keys.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch
from safetensors.torch import load_file

from bench.config import resolve_config
from bench.core.errors import UserError
from bench.data import loader
from bench.rundir import RunDir
from bench.train import start_run, train_run

ROOT = Path(__file__).resolve().parents[1]
SMALL = [
    "data.resolution=32",
    "data.batch_size=2",
    "data.num_workers=0",
    "data.eval_size=2",
    "optim.effective_batch=4",
    "eval.steps=1",
    "budget.usd=2e-7",
    "budget.mark_every=0.5",
]
#: the CLI, recording every batch's keys into $KEYS_DIR/keys-<rank>.jsonl (test-only, no production hook)
ENTRY = """
import json, os
from bench.data import loader
plain = loader.TrainStream.__next__
def recording(self):
    batch = plain(self)
    with open(os.path.join(os.environ["KEYS_DIR"], f"keys-{self.rank}.jsonl"), "a") as fh:
        fh.write(json.dumps(batch.keys) + "\\n")
    return batch
loader.TrainStream.__next__ = recording
from bench.cli import main
main()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(*args: str, processes: int = 2, script: str = "-m bench") -> list[str]:
    """``accelerate launch`` on this host's CPUs with ``processes`` processes (gloo)."""
    flags = ["--multi_gpu", "--num_processes", str(processes), "--num_machines", "1", "--mixed_precision", "no"]
    flags += ["--dynamo_backend", "no", "--main_process_port", str(_free_port())]
    return [sys.executable, "-m", "accelerate.commands.launch", *flags, *script.split(), *args]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", **extra}


def _sets(settings: list[str]) -> list[str]:
    return [a for s in settings for a in ("--set", s)]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    control = RunDir(run).latest().control
    weights = load_file(str(control / "diffusion_pytorch_model.safetensors"))
    base = load_file(str(control / "base_unet" / "diffusion_pytorch_model.safetensors"))
    return {**weights, **{f"base.{k}": v for k, v in base.items()}}


def _keys(path: Path) -> list[list[str]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same run on 1 process (in this one) and on 2 (launched); each records its batches' keys."""
    root = tmp_path_factory.mktemp("multiprocess")
    one_keys: list[list[str]] = []
    plain = loader.TrainStream.__next__

    def recording(stream: loader.TrainStream) -> object:
        batch = plain(stream)
        one_keys.append(batch.keys)
        return batch

    loader.TrainStream.__next__ = recording
    try:
        cfg = resolve_config("sd", "tiny", overrides=SMALL)
        train_run(cfg, start_run(cfg, root / "one"), resume=False, quiet=True)
    finally:
        loader.TrainStream.__next__ = plain
    (root / "one-keys.json").write_text(json.dumps(one_keys))

    entry = root / "entry.py"
    entry.write_text(ENTRY)
    cmd = launch("train", "--backbone", "sd", "--quiet", "--out", str(root / "two"), *_sets(SMALL), script=str(entry))
    done = subprocess.run(cmd, env=_env(KEYS_DIR=str(root)), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (root / "two-stdout.txt").write_text(done.stdout)
    return {"root": root, "one": root / "one", "two": root / "two"}


@pytest.mark.slow
def test_two_processes_draw_disjoint_halves_of_the_one_process_global_batch(runs: dict[str, Path]) -> None:
    single = json.loads((runs["root"] / "one-keys.json").read_text())
    ranks = [_keys(runs["root"] / f"keys-{r}.jsonl") for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == len(single) // 2 > 0
    for step, (mine, theirs) in enumerate(zip(*ranks, strict=True)):
        assert not set(mine) & set(theirs)
        assert mine + theirs == single[2 * step] + single[2 * step + 1]


@pytest.mark.slow
def test_the_run_directory_is_written_once(runs: dict[str, Path]) -> None:
    two, one = RunDir(runs["two"]), RunDir(runs["one"])
    steps = [r["step"] for r in two.read_log()]
    assert steps == list(range(1, len(steps) + 1)) == [r["step"] for r in one.read_log()]
    assert [c.name for c in two.checkpoints()] == [c.name for c in one.checkpoints()]
    assert len(list((two.path / "samples").iterdir())) == 1
    assert json.loads(two.file("env.json").read_text())["processes"] == 2
    assert runs["root"].joinpath("two-stdout.txt").read_text().count("done:") == 1


@pytest.mark.slow
def test_the_bill_sums_the_processes_flops(runs: dict[str, Path]) -> None:
    one = json.loads(RunDir(runs["one"]).file("budget.json").read_text())
    two = json.loads(RunDir(runs["two"]).file("budget.json").read_text())
    assert (one["processes"], two["processes"], two["device"]) == (1, 2, "cpu")
    assert two["flops_per_step"] == pytest.approx(one["flops_per_step"], rel=1e-9)
    assert (two["steps"], two["samples"]) == (one["steps"], one["samples"])
    assert two["usd_spent"] == pytest.approx(one["usd_spent"], rel=1e-9)


@pytest.mark.slow
def test_resuming_on_another_process_count_is_refused(runs: dict[str, Path]) -> None:
    cfg = resolve_config("sd", "tiny", overrides=SMALL)
    with pytest.raises(UserError, match="trained on 2 process"):
        train_run(cfg, RunDir(runs["two"]), resume=True, quiet=True)


@pytest.mark.slow
def test_killing_one_process_stops_the_launcher_and_resume_completes(tmp_path: Path) -> None:
    settings = [s for s in SMALL if not s.startswith(("budget.usd", "budget.mark_every"))]
    settings += ["budget.usd=8e-7", "budget.mark_every=0.125"]
    run = tmp_path / "run"
    cmd = launch("train", "--backbone", "sd", "--quiet", "--out", str(run), *_sets(settings))
    launcher = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while time.time() < deadline and not RunDir(run).checkpoints() and launcher.poll() is None:
        time.sleep(0.05)
    assert launcher.poll() is None, "the run should still be going after its first checkpoint"
    workers = [p for p in psutil.Process(launcher.pid).children() if p.environ().get("RANK") == "1"]
    assert len(workers) == 1
    killed_at = time.time()
    workers[0].send_signal(signal.SIGKILL)
    try:
        code = launcher.wait(timeout=60)
    except subprocess.TimeoutExpired:
        launcher.kill()
        raise AssertionError("the launcher did not stop within 60 s of a worker's death") from None
    assert code != 0 and time.time() - killed_at < 60
    assert len(RunDir(run).checkpoints()) < 8

    resumed = subprocess.run(
        launch("train", "--resume", str(run), "--quiet"), env=_env(), capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert RunDir(run).latest().usd >= 8e-7 and len(RunDir(run).checkpoints()) == 8
    steps = [r["step"] for r in RunDir(run).read_log()]
    assert steps == list(range(1, len(steps) + 1))


@pytest.mark.slow
def test_the_weights_match_a_one_process_run(runs: dict[str, Path]) -> None:
    one, two = _weights(runs["one"]), _weights(runs["two"])
    assert one.keys() == two.keys()
    worst = max(float((one[k] - two[k]).abs().max()) for k in one)
    print(f"largest weight difference, 1 vs 2 processes: {worst:.3g}")
    assert worst < 1e-5


@pytest.mark.slow
def test_sigterm_to_the_launcher_checkpoints_first(tmp_path: Path) -> None:
    settings = [s for s in SMALL if not s.startswith(("budget.usd", "budget.mark_every"))]
    settings += ["budget.usd=8e-7", "budget.mark_every=0.125"]
    run = tmp_path / "run"
    cmd = launch("train", "--backbone", "sd", "--quiet", "--out", str(run), *_sets(settings))
    launcher = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while time.time() < deadline and not RunDir(run).checkpoints() and launcher.poll() is None:
        time.sleep(0.05)
    assert launcher.poll() is None, "the run should still be going after its first checkpoint"
    launcher.send_signal(signal.SIGTERM)
    try:
        code = launcher.wait(timeout=60)
    except subprocess.TimeoutExpired:
        launcher.kill()
        raise AssertionError("the launcher did not stop within 60 s of SIGTERM") from None
    assert code != 0
    latest = RunDir(run).latest()
    marks = [8e-7 * (i + 1) / 8 for i in range(8)]
    assert latest.usd < 8e-7 and all(abs(latest.usd - m) > 1e-12 for m in marks)  # written by the stop
