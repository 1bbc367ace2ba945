"""Experiment trackers, as diffusers' and accelerate's users expect: ``log.report_to = none | tensorboard | wandb``.

They go through accelerate's tracker API, which logs from the main process only, and receive what
``train.jsonl`` receives (the file stays the record `bench report` reads). TensorBoard writes event files under
``RUN/trackers/``; wandb follows its own settings (``WANDB_MODE=offline`` keeps it on the machine). Both come
with the ``trackers`` extra: ``pip install 'strokebench[trackers]'``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from bench.core.errors import UserError

REPORT_TO = ("none", "tensorboard", "wandb")
#: the folder of a run directory trackers write into
TRACKERS_DIR = "trackers"


def check_report_to(report_to: str) -> None:
    """A one-sentence error for an unknown tracker or one whose package is not installed."""
    if report_to not in REPORT_TO:
        raise UserError(f"log.report_to must be one of {', '.join(REPORT_TO)}, got {report_to!r}")
    if report_to != "none" and importlib.util.find_spec(report_to) is None:
        raise UserError(f"log.report_to = {report_to} needs {report_to}: pip install 'strokebench[trackers]'")


def accelerator_options(report_to: str, run_path: Path) -> dict[str, Any]:
    """The `Accelerator` arguments that attach the tracker (none for ``none``)."""
    if report_to == "none":
        return {}
    return {"log_with": report_to, "project_dir": str(run_path / TRACKERS_DIR)}


def flat_config(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"optim": {"lr": 1e-3}}`` -> ``{"optim.lr": 1e-3}``, values a tracker's hyperparameter table takes."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_config(value, f"{name}."))
        else:
            flat[name] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return flat
