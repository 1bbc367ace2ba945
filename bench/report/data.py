"""What a report says, computed from run directories only: runs, eval rows, equal-budget picks, costs.

`bench report` reads ``config.toml``, ``env.json``, ``budget.json``, ``train.jsonl``, ``eval.csv`` and the saved
eval samples of each run, and nothing else. The writers (`bench.report.markdown`, `bench.report.html`) and the plots
only format what this module computes, so the Markdown and HTML reports always agree.

Runs of one backbone that differ only in their seed are one group (`groups_of`); `bench.report.comparison`
computes the group statistics. A run without eval rows (a failed seed) is named in the report and left out;
runs scored on different eval items of the same set are refused.

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
from bench.rundir import BUDGET, CONFIG, ENV, EVAL_CSV, TRAIN_LOG, read_jsonl
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
    seed: int = 0

    def checkpoints(self) -> list[tuple[str, int, float]]:
        """Evaluated checkpoints as (name, step, usd), cheapest first."""
        return sorted({(r.checkpoint, r.step, r.usd) for r in self.rows}, key=lambda c: (c[2], c[0]))

    def value(
        self, checkpoint: str, eval_set: str, metric: str, strokes: int | None = None, variant: str = ""
    ) -> EvalRow | None:
        wanted = (checkpoint, eval_set, metric, strokes, variant)
        for row in self.rows:
            if (row.checkpoint, row.eval_set, row.metric, row.strokes, row.variant) == wanted:
                return row
        return None

    def curve(self, eval_set: str, metric: str) -> list[EvalRow]:
        """The metric's rows over checkpoints (dollars ascending), available ones only."""
        rows = [
            r
            for r in self.rows
            if r.eval_set == eval_set and r.metric == metric and r.strokes is None and not r.variant
        ]
        return sorted((r for r in rows if r.status == OK and not math.isnan(r.mean)), key=lambda r: r.usd)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except json.JSONDecodeError:
        raise UserError(f"{path} is not valid JSON; was it edited by hand?") from None


def load_run(path: Path) -> RunInfo:
    """Read one run directory (one-line errors for a missing run; a run never evaluated has no rows)."""
    path = Path(path)
    config_file = path / CONFIG
    if not path.is_dir():
        raise UserError(f"run directory not found: {path}")
    if not config_file.is_file():
        raise UserError(f"{path} is not a run directory (it has no config.toml)")
    text = config_file.read_text(encoding="utf-8")
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{config_file} is not valid TOML: {exc}") from None
    return RunInfo(
        path=path,
        label=str(config.get("backbone", "?")),
        backbone=str(config.get("backbone", "?")),
        preset=str(config.get("preset", "?")),
        config_text=text,
        config=config,
        env=_read_json(path / ENV),
        budget=_read_json(path / BUDGET),
        train_log=read_jsonl(path / TRAIN_LOG),
        rows=read_rows(path / EVAL_CSV),
        seed=int(config.get("seed", 0)),
    )


def load_references(path: Path) -> RunInfo:
    """The reference rows `bench.references` wrote into ``path`` (one sentence if there are none)."""
    path = Path(path)
    rows = read_rows(path / EVAL_CSV)
    if not rows:
        raise UserError(f"--references {path} has no eval.csv rows; score them first (bench eval --references)")
    return RunInfo(path, "references", "references", "-", "", {}, {}, {}, [], rows)


@dataclass
class Group:
    """One backbone's runs that differ only in their seed (or one run, where seeds do not tell runs apart)."""

    label: str
    runs: list[RunInfo]

    @property
    def seeds(self) -> list[int]:
        return [run.seed for run in self.runs]


def groups_of(runs: list[RunInfo]) -> list[Group]:
    """Runs grouped by backbone where their seeds differ; runs sharing a backbone and a seed stay apart."""
    by_backbone: dict[str, list[RunInfo]] = {}
    for run in runs:
        by_backbone.setdefault(run.backbone, []).append(run)
    groups = []
    for backbone, members in by_backbone.items():
        if len({run.seed for run in members}) == len(members):
            members = sorted(members, key=lambda r: r.seed)
            groups.append(Group(backbone, members))
            for run in members:
                run.label = backbone if len(members) == 1 else f"{backbone} seed {run.seed}"
        else:
            for run in members:
                run.label = f"{backbone} ({run.path.name})"
                groups.append(Group(run.label, [run]))
    return groups


@dataclass
class ReportData:
    """Every run of a report, and what is computed across them."""

    runs: list[RunInfo]
    #: the stroke ΔE a run must reach for the "dollars to reach" column
    target_de: float | None = None
    notes: list[str] = field(default_factory=list)
    #: the reference rows (`bench.references`), if the report was given them
    references: RunInfo | None = None
    groups: list[Group] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.groups = groups_of(self.runs)

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

        present = {
            r.metric
            for run in self.runs
            for r in run.rows
            if r.eval_set == eval_set and r.strokes == strokes and not r.variant
        }
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

    def adherence_strokes(self) -> list[int]:
        return sorted({r.strokes for run in self.runs for r in run.rows if r.strokes is not None})

    def adherence(self, run: RunInfo, metric: str) -> list[EvalRow]:
        """The run's stroke adherence rows of ``metric`` (newest checkpoint that has them), by stroke count."""
        rows = [
            r for r in run.rows if r.strokes is not None and r.metric == metric and r.status == OK and not r.variant
        ]
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


def _check_same_items(runs: list[RunInfo]) -> None:
    """Refuse runs scored on different items of one eval set (their data or hint settings differ)."""
    import json

    from bench.sample_store import EVAL_SAMPLES, INPUTS, ITEMS_FILE

    seen: dict[str, tuple[RunInfo, list[str]]] = {}
    for run in runs:
        for folder in sorted((run.path / EVAL_SAMPLES).glob(f"*/{INPUTS}/{ITEMS_FILE}")):
            keys = json.loads(folder.read_text(encoding="utf-8")).get("keys", [])
            slug = folder.parent.parent.name
            first = seen.setdefault(slug, (run, keys))
            if first[1] != keys:
                raise UserError(
                    f"{first[0].path} and {run.path} were scored on different eval items ({slug}): their data or "
                    "hint settings differ, so they cannot be compared; report them separately"
                )


def load_report(paths: list[Path], target_de: float | None = None, references: Path | None = None) -> ReportData:
    """Read every run directory of a report; runs without eval rows are named in a note and left out."""
    if not paths:
        raise UserError("give at least one run directory")
    loaded = [load_run(p) for p in paths]
    runs = [run for run in loaded if run.rows]
    if not runs:
        first = loaded[0].path
        raise UserError(f"{first} has no eval.csv rows yet; evaluate it first (bench eval {first})")
    held = load_references(references) if references is not None else None
    _check_same_items(runs + ([held] if held is not None else []))
    data = ReportData(runs, references=held)
    for run in loaded:
        if not run.rows:
            data.notes.append(
                f"{run.backbone} seed {run.seed} ({run.path}) has no eval rows (its run failed or was never "
                "evaluated); its backbone's numbers use the other seeds."
            )
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
