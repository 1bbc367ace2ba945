"""Which runs the page shows: named run directories, or one run per backbone of a `bench run` folder."""

from __future__ import annotations

from pathlib import Path

from bench.core.errors import UserError
from bench.rundir import RunDir, seed_of_dir


def _seed_runs(backbone_dir: Path) -> dict[int, Path]:
    """``seed<S>/`` run directories under one backbone's folder, by seed."""
    found = {}
    for child in backbone_dir.iterdir():
        seed = seed_of_dir(child.name)
        if seed is not None and RunDir(child).is_run():
            found[seed] = child
    return found


def benchmark_runs(out: Path, seed: int | None = None) -> list[Path]:
    """One run per backbone of a `bench run` folder: ``OUT/<backbone>/`` or ``OUT/<backbone>/seed<S>/``.

    Where a backbone has several seeds, ``seed`` picks one (default: the lowest).
    """
    if not out.is_dir():
        raise UserError(f"{out} not found; run `bench run` first, or name run directories: bench demo RUN ...")
    runs = []
    for backbone_dir in sorted(p for p in out.iterdir() if p.is_dir()):
        if RunDir(backbone_dir).is_run():
            runs.append(backbone_dir)
            continue
        seeds = _seed_runs(backbone_dir)
        if not seeds:
            continue
        if seed is None:
            runs.append(seeds[min(seeds)])
        elif seed in seeds:
            runs.append(seeds[seed])
        else:
            valid = ", ".join(str(s) for s in sorted(seeds))
            raise UserError(f"{backbone_dir} has no seed{seed}/ run (seeds there: {valid}); pick one with --run-seed")
    if not runs:
        raise UserError(f"{out} holds no run directories; run `bench run` first, or name them: bench demo RUN ...")
    return runs


def choose_runs(runs: list[Path], out: Path, seed: int | None = None) -> list[Path]:
    """The runs named on the command line (each checked), or else the runs of the `bench run` folder ``out``."""
    if not runs:
        return benchmark_runs(out, seed)
    for path in runs:
        RunDir(path).require_run()
    return list(dict.fromkeys(runs))
