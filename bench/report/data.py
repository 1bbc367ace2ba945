"""What a report says, computed from run directories only: runs, eval rows, equal-budget picks, costs.

`bench report` reads ``config.toml``, ``env.json``, ``budget.json``, ``train.jsonl``, ``eval.csv`` and the saved
eval samples of each run, and nothing else. The writers (`bench.report.markdown`, `bench.report.html`) and the plots
only format what this module computes, so the Markdown and HTML reports always agree.

Equal budget: the shared budget is the smallest of the runs' largest evaluated spends; each run is read at its
newest evaluated checkpoint within 5 % above it (checkpoints land a step past their dollar mark).
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.core.errors import UserError
from bench.results import OK, EvalRow, read_rows
from eval.metric_specs import spec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: a checkpoint counts as "at" a budget up to this fraction above it (marks are crossed mid-step)
BUDGET_SLACK = 0.05
#: FID needs about this many images before its bias is small
FID_MIN_N = 1000


@dataclass
class RunInfo:
    """One run directory as the report sees it."""

    path: Path
    label: str
    backbone: str
    preset: str
    config_text: str
    config: dict[str, Any]
    env: dict[str, Any]
    budget: dict[str, Any]
    train_log: list[dict[str, Any]]
    rows: list[EvalRow]

    def checkpoints(self) -> list[tuple[str, int, float]]:
        """Evaluated checkpoints as (name, step, usd), cheapest first."""
        return sorted({(r.checkpoint, r.step, r.usd) for r in self.rows}, key=lambda c: (c[2], c[0]))

    def value(self, checkpoint: str, eval_set: str, metric: str, strokes: int | None = None) -> EvalRow | None:
        for row in self.rows:
            if (row.checkpoint, row.eval_set, row.metric, row.strokes) == (checkpoint, eval_set, metric, strokes):
                return row
        return None

    def curve(self, eval_set: str, metric: str) -> list[EvalRow]:
        """The metric's rows over checkpoints (dollars ascending), available ones only."""
        rows = [r for r in self.rows if r.eval_set == eval_set and r.metric == metric and r.strokes is None]
        return sorted((r for r in rows if r.status == OK and not math.isnan(r.mean)), key=lambda r: r.usd)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except json.JSONDecodeError:
        raise UserError(f"{path} is not valid JSON; was it edited by hand?") from None


def _read_log(path: Path) -> list[dict[str, Any]]:
    records = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def load_run(path: Path) -> RunInfo:
    """Read one run directory (one-line errors for a missing run or a run never evaluated)."""
    path = Path(path)
    config_file = path / "config.toml"
    if not path.is_dir():
        raise UserError(f"run directory not found: {path}")
    if not config_file.is_file():
        raise UserError(f"{path} is not a run directory (it has no config.toml)")
    text = config_file.read_text(encoding="utf-8")
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{config_file} is not valid TOML: {exc}") from None
    rows = read_rows(path / "eval.csv")
    if not rows:
        raise UserError(f"{path} has no eval.csv rows yet; evaluate it first (bench eval {path})")
    return RunInfo(
        path=path,
        label=str(config.get("backbone", "?")),
        backbone=str(config.get("backbone", "?")),
        preset=str(config.get("preset", "?")),
        config_text=text,
        config=config,
        env=_read_json(path / "env.json"),
        budget=_read_json(path / "budget.json"),
        train_log=_read_log(path / "train.jsonl"),
        rows=rows,
    )


@dataclass
class ReportData:
    """Every run of a report, and what is computed across them."""

    runs: list[RunInfo]
    #: the stroke ΔE a run must reach for the "dollars to reach" column
    target_de: float | None = None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        counts: dict[str, int] = {}
        for run in self.runs:
            counts[run.backbone] = counts.get(run.backbone, 0) + 1
        for run in self.runs:  # the backbone names a run, unless two runs share one
            run.label = run.backbone if counts[run.backbone] == 1 else f"{run.backbone} ({run.path.name})"

    @property
    def eval_sets(self) -> list[str]:
        """Eval sets in first-seen order (each run's own split comes first in its rows' order)."""
        seen: dict[str, None] = {}
        for run in self.runs:
            own = str(run.config.get("data", {}).get("source", ""))
            if any(r.eval_set == own for r in run.rows):
                seen.setdefault(own, None)
        for run in self.runs:
            for row in run.rows:
                seen.setdefault(row.eval_set, None)
        return list(seen)

    def metrics(self, eval_set: str, strokes: int | None = None) -> list[str]:
        """Metric names present for ``eval_set`` in spec order (costs left out)."""
        from eval.metric_specs import METRICS

        present = {r.metric for run in self.runs for r in run.rows if r.eval_set == eval_set and r.strokes == strokes}
        ordered = [m for m in METRICS if m in present and spec(m).kind != "cost"]
        return ordered + sorted(present - set(METRICS))

    @property
    def shared_budget(self) -> float:
        """The smallest of the runs' largest evaluated spends (dollars)."""
        return min(run.checkpoints()[-1][2] for run in self.runs)

    def pick(self, run: RunInfo) -> tuple[str, int, float]:
        """The run's checkpoint at the shared budget: the newest evaluated one within `BUDGET_SLACK` above it."""
        limit = self.shared_budget * (1 + BUDGET_SLACK)
        within = [c for c in run.checkpoints() if c[2] <= limit]
        return within[-1] if within else run.checkpoints()[0]

    def at_budget(self, run: RunInfo, eval_set: str, metric: str, strokes: int | None = None) -> EvalRow | None:
        return run.value(self.pick(run)[0], eval_set, metric, strokes)

    def best(self, eval_set: str, metric: str, strokes: int | None = None) -> set[str]:
        """Labels of the runs with the best mean at the shared budget (ties share it)."""
        values = {}
        for run in self.runs:
            row = self.at_budget(run, eval_set, metric, strokes)
            if row is not None and row.status == OK and not math.isnan(row.mean):
                values[run.label] = row.mean
        if len(values) < 2:
            return set()
        best = max(values.values()) if spec(metric).higher_is_better else min(values.values())
        return {label for label, value in values.items() if value == best}

    def adherence_strokes(self) -> list[int]:
        return sorted({r.strokes for run in self.runs for r in run.rows if r.strokes is not None})

    def adherence(self, run: RunInfo, metric: str) -> list[EvalRow]:
        """The run's stroke adherence rows of ``metric`` (newest checkpoint that has them), by stroke count."""
        rows = [r for r in run.rows if r.strokes is not None and r.metric == metric and r.status == OK]
        if not rows:
            return []
        newest = max(rows, key=lambda r: r.usd).checkpoint
        return sorted((r for r in rows if r.checkpoint == newest), key=lambda r: r.strokes or 0)

    def unavailable_notes(self) -> list[str]:
        notes: dict[str, None] = {}
        for run in self.runs:
            for row in run.rows:
                if row.status != OK and row.note:
                    notes.setdefault(row.note, None)
        return list(notes)

    def warnings(self) -> list[str]:
        """Plain-language caveats a reader must see before the numbers."""
        found = []
        small = {
            r.n
            for run in self.runs
            for r in run.rows
            if r.metric in ("fid", "kid") and r.status == OK and r.n < FID_MIN_N
        }
        if small:
            found.append(
                f"FID and KID here use {', '.join(map(str, sorted(small)))} images; under {FID_MIN_N:,} FID is "
                "strongly biased upwards and only comparable between runs with the same n: read KID beside it."
            )
        budgets = {float(run.config.get("budget", {}).get("usd", 0)) for run in self.runs}
        if len(budgets) > 1:
            found.append(
                "The runs were given different budgets; tables compare them at the shared budget "
                f"(${self.shared_budget:.6g}), the curves over each run's whole budget."
            )
        presets = {run.preset for run in self.runs}
        if "tiny" in presets:
            found.append(
                "Tiny presets train small models from scratch at 64 px on CPU: they show that the pipeline works "
                "and how the comparison is made, not how the full pretrained backbones rank."
            )
        return found

    def dollars_to_reach(self, run: RunInfo, eval_set: str) -> float | None:
        """Dollars at which stroke ΔE first reaches `target_de` (linear between checkpoints), or None."""
        if self.target_de is None:
            return None
        curve = run.curve(eval_set, "stroke_de")
        previous = None
        for row in curve:
            if row.mean <= self.target_de:
                if previous is None or previous.mean == row.mean:
                    return row.usd
                share = (previous.mean - self.target_de) / (previous.mean - row.mean)
                return previous.usd + share * (row.usd - previous.usd)
            previous = row
        return None


def default_target_de(runs: list[RunInfo], eval_set: str) -> float | None:
    """The worst of the runs' final stroke ΔE on ``eval_set``: a level every backbone reaches, so the dollars
    each one needs for it are comparable."""
    finals = [run.curve(eval_set, "stroke_de")[-1].mean for run in runs if run.curve(eval_set, "stroke_de")]
    return math.ceil(max(finals) * 10) / 10 if finals else None


def load_report(paths: list[Path], target_de: float | None = None) -> ReportData:
    """Read every run directory of a report."""
    if not paths:
        raise UserError("give at least one run directory")
    runs = [load_run(p) for p in paths]
    data = ReportData(runs)
    data.target_de = target_de if target_de is not None else default_target_de(runs, data.eval_sets[0])
    return data


def budget_method(run: RunInfo) -> str:
    """How the run's dollars were counted, said plainly, with the devices billed when there were several."""
    method = _method(run.budget)
    processes = int(run.budget.get("processes", 1))
    if processes > 1:
        return f"{method}; {processes} x {run.budget.get('device', '?')}, each one's time billed"
    return method


def _method(budget: dict) -> str:
    method = budget.get("method", "unknown")
    price = budget.get("usd_per_hour", 0.75)
    if method == "wallclock":
        return f"measured: wall clock on the reference A10, ${price}/h"
    if method == "device_factor":
        return (
            f"wall clock on {budget.get('device', '?')} x device factor {budget.get('device_factor', '?')} "
            f"(A10 seconds per second), ${price}/h"
        )
    if method == "flops":
        peak = budget.get("effective_flops_per_second", 0) / 1e12
        return (
            f"FLOP estimate, no GPU timing: counted FLOPs / (A10 peak x utilisation = {peak:.3g} TFLOP/s), ${price}/h"
        )
    return str(method)


@dataclass
class CostRow:
    """The throughput / cost table's row of one run."""

    label: str
    budget_usd: float
    spent_usd: float
    steps: int
    samples: int
    train_samples_per_s: float
    device: str
    sampling_s_per_image: float
    sampling_usd_per_1k: float
    usd_to_target: float | None
    method: str


def cost_row(data: ReportData, run: RunInfo) -> CostRow:
    """Throughput and cost of a run, from budget.json, train.jsonl and the eval rows at the shared budget."""
    own = data.eval_sets[0]
    rates = [float(r["samples_per_s"]) for r in run.train_log if "samples_per_s" in r]
    sampling = data.at_budget(run, own, "sampling_s_per_image")
    sampling_cost = data.at_budget(run, own, "sampling_usd_per_1k")
    return CostRow(
        label=run.label,
        budget_usd=float(run.budget.get("budget_usd", run.config.get("budget", {}).get("usd", math.nan))),
        spent_usd=float(run.budget.get("usd_spent", math.nan)),
        steps=int(run.budget.get("steps", 0)),
        samples=int(run.budget.get("samples", 0)),
        train_samples_per_s=sum(rates) / len(rates) if rates else math.nan,
        device=str(run.env.get("device", run.budget.get("device", "?"))),
        sampling_s_per_image=sampling.mean if sampling is not None else math.nan,
        sampling_usd_per_1k=sampling_cost.mean if sampling_cost is not None else math.nan,
        usd_to_target=data.dollars_to_reach(run, own),
        method=budget_method(run),
    )


def report_environment() -> dict[str, str]:
    """Versions of what scored and plotted the report, and the code's git commit."""
    import subprocess
    from importlib import metadata

    versions = {}
    for package in ("strokebench", "torch", "numpy", "scikit-image", "opencv-python-headless", "torchmetrics",
                    "torch-fidelity", "lpips", "matplotlib"):  # fmt: skip
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
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
    versions["git commit"] = commit or "unknown"
    return versions
