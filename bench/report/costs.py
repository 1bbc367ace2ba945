"""The throughput and cost side of a report: how dollars were counted, cost rows per run, report versions."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.report.data import ReportData, RunInfo, budget_method
from bench.rundir import git_commit


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
    from importlib import metadata

    versions = {}
    for package in ("strokebench", "torch", "numpy", "scikit-image", "opencv-python-headless", "torchmetrics",
                    "torch-fidelity", "lpips", "matplotlib"):  # fmt: skip
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    versions["git commit"] = git_commit()
    return versions
