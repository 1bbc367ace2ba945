"""The run directory, defined once: names, checkpoints at budget marks, and the ``last`` pointer.

```
RUN/config.toml  env.json  budget.json  train.jsonl  eval.csv  samples/
RUN/checkpoints/<usd-mark>/{control/, training_state/, COMPLETE}
RUN/checkpoints/last          (text: the newest complete mark's name)
```

A checkpoint is written into a hidden temporary folder and renamed into place after its ``COMPLETE`` marker
is written, so a kill at any moment leaves either a complete checkpoint or an ignored temporary folder.
``COMPLETE`` is JSON: step, samples seen and dollars spent at that checkpoint (what eval plots against).
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.core.atomic import write_text
from bench.core.errors import UserError

CONFIG = "config.toml"
ENV = "env.json"
BUDGET = "budget.json"
TRAIN_LOG = "train.jsonl"
EVAL_CSV = "eval.csv"
SAMPLES = "samples"
CHECKPOINTS = "checkpoints"
LAST = "last"
COMPLETE = "COMPLETE"
CONTROL = "control"
TRAINING_STATE = "training_state"
#: `bench run` keeps each backbone's run on seed S in OUT/<backbone>/seed<S>/
SEED_PREFIX = "seed"


def seed_dir_name(seed: int) -> str:
    """The folder name of a `bench run` run on ``seed``."""
    return f"{SEED_PREFIX}{seed}"


def seed_of_dir(name: str) -> int | None:
    """The seed a `bench run` run folder is named for, or None for another folder."""
    tail = name[len(SEED_PREFIX) :] if name.startswith(SEED_PREFIX) else ""
    return int(tail) if tail.isdigit() else None


#: where runs and reports go unless a command is told otherwise
RESULTS = Path("results")
#: `bench run`'s folder (one run directory per backbone and seed, and the report)
BENCHMARK = RESULTS / "benchmark"
#: the report's folder inside `bench run`'s folder, and `bench report`'s default under RESULTS
REPORT = "report"


def new_run_path(backbone: str, preset: str) -> Path:
    """A new run's directory when none is given: ``results/<backbone>-<preset>-<local time>``."""
    return RESULTS / f"{backbone}-{preset}-{time.strftime('%Y%m%d-%H%M%S')}"


#: the smallest dollar step checkpoint names tell apart (they carry 9 decimals)
MARK_RESOLUTION_USD = 1e-9


def mark_name(usd: float) -> str:
    """Checkpoint folder name of a dollar mark; zero-padded so names sort in dollar order."""
    return f"usd-{usd:016.9f}"


@dataclass
class Checkpoint:
    """A complete checkpoint: where it is and what it cost."""

    path: Path
    name: str
    step: int
    samples: int
    usd: float

    @property
    def control(self) -> Path:
        return self.path / CONTROL

    @property
    def training_state(self) -> Path:
        return self.path / TRAINING_STATE


class RunDir:
    """One run's directory."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / CHECKPOINTS

    def is_run(self) -> bool:
        return (self.path / CONFIG).is_file()

    def require_run(self) -> None:
        """Raise a one-line error unless this is a run directory."""
        if not self.path.is_dir():
            raise UserError(f"run directory not found: {self.path}")
        if not self.is_run():
            raise UserError(f"{self.path} is not a run directory (it has no {CONFIG})")

    def checkpoints(self) -> list[Checkpoint]:
        """Complete checkpoints, cheapest first; half-written ones are ignored."""
        found = []
        if not self.checkpoints_dir.is_dir():
            return found
        for folder in self.checkpoints_dir.iterdir():
            marker = folder / COMPLETE
            if folder.name.startswith("usd-") and marker.is_file():
                info = json.loads(marker.read_text())
                found.append(
                    Checkpoint(folder, folder.name, int(info["step"]), int(info["samples"]), float(info["usd"]))
                )
        return sorted(found, key=lambda c: (c.usd, c.name))

    def latest(self) -> Checkpoint | None:
        """The newest complete checkpoint (by dollars spent), or None."""
        done = self.checkpoints()
        return done[-1] if done else None

    def checkpoint(self, name: str) -> Checkpoint:
        """The complete checkpoint named ``name`` (or ``last``); a one-line error lists the valid names."""
        done = self.checkpoints()
        if name == LAST and done:
            return done[-1]
        for checkpoint in done:
            if checkpoint.name == name:
                return checkpoint
        valid = ", ".join(c.name for c in done) or "none yet"
        raise UserError(f"{self.path} has no complete checkpoint '{name}' (valid: {valid}, last)")

    def write_checkpoint(self, name: str, info: dict[str, Any], fill: Callable[[Path], None]) -> Checkpoint:
        """Write checkpoint ``name``: ``fill(tmp)`` writes its files, then it is marked complete and renamed."""
        self.checkpoints_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.checkpoints_dir / f".tmp-{name}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        fill(tmp)
        write_text(tmp / COMPLETE, json.dumps(info, indent=1))
        final = self.checkpoints_dir / name
        if final.exists():  # re-writing the same mark (a resumed run passing it again): replace it
            shutil.rmtree(final)
        tmp.rename(final)
        write_text(self.checkpoints_dir / LAST, name + "\n")
        return Checkpoint(final, name, int(info["step"]), int(info["samples"]), float(info["usd"]))

    def clean_partial(self) -> list[str]:
        """Remove temporary checkpoint folders a kill left behind; returns their names."""
        removed = []
        if self.checkpoints_dir.is_dir():
            for folder in self.checkpoints_dir.glob(".tmp-*"):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder.name)
        return removed

    def append_log(self, record: dict[str, Any]) -> None:
        """Append one JSON line to ``train.jsonl`` (a torn last line is skipped by `read_log`)."""
        with open(self.path / TRAIN_LOG, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()

    def read_log(self) -> list[dict[str, Any]]:
        """The records of ``train.jsonl``, skipping a line a kill cut short."""
        return read_jsonl(self.path / TRAIN_LOG)

    def truncate_log(self, after_step: int) -> None:
        """Drop log records past ``after_step`` (a resumed run re-does those steps)."""
        kept = [r for r in self.read_log() if int(r.get("step", 0)) <= after_step]
        write_text(self.path / TRAIN_LOG, "".join(json.dumps(r) + "\n" for r in kept))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file (none if it is missing), skipping a line a kill cut short."""
    records = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def git_commit() -> str:
    """The commit of this checkout of strokebench, or "unknown" (an installed copy, no git)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return commit or "unknown"


def environment(device: str, cpu_threads: int) -> dict[str, Any]:
    """Facts for ``env.json``: git commit, versions, device, and the threads a CPU training step uses."""
    import accelerate
    import diffusers
    import torch
    import transformers

    return {
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "accelerate": accelerate.__version__,
        "device": device,
        "cpu_threads": cpu_threads,
    }
