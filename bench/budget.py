"""The budget meter: every run is charged in dollars of reference-GPU (A10) time.

Why dollars of one reference GPU: the benchmark compares backbones "per dollar", so cost must not depend on
where a run happened. Seconds on the reference GPU come from, in order of preference:

1. ``wallclock``: the run is on the reference GPU; its wall time is the cost.
2. ``device_factor``: another GPU; wall time x (reference seconds per device second). The built-in table is
   the ratio of dense bf16 tensor peaks to the A10's (a first-order estimate); a calibration TOML file with
   measured factors (``[factors] "NVIDIA H100 80GB HBM3" = 5.1``) overrides it.
3. ``flops``: no GPU (CPU runs, tests): FLOPs counted for one real training step with
   ``torch.utils.flop_counter.FlopCounterMode`` / (A10 peak x assumed utilisation). A10 peaks (NVIDIA's data
   sheet): 31.2 TFLOP/s fp32 (plain CUDA cores, what an un-mixed run uses) and 125 TFLOP/s bf16/fp16 dense
   tensor cores. Deterministic: the same run costs the same on any machine.

On N processes (``accelerate launch``) the bill is device-seconds over all of them: wall time x N on the
wall-clock methods, FLOPs summed over the processes on the FLOP method (the loop passes that sum).

The method and its inputs are written to ``budget.json``; the meter's state travels in checkpoints so a
resumed run keeps counting. Sampling is metered separately from training.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench.config import BudgetConfig, load_toml
from bench.core.errors import UserError
from bench.rundir import MARK_RESOLUTION_USD

#: reference-GPU peak FLOP/s by mixed-precision setting (A10 data sheet, dense)
A10_PEAK_FLOPS = {"no": 31.2e12, "fp16": 125e12, "bf16": 125e12}

#: reference (A10) seconds per second on other GPUs: ratio of dense bf16 tensor peaks (first-order estimate)
DEVICE_FACTORS = {
    "A10G": 0.56,  # AWS A10G: 70 TFLOP/s bf16
    "A10": 1.0,
    "L4": 0.97,
    "L40": 1.45,  # 181 TFLOP/s bf16
    "L40S": 2.9,
    "T4": 0.52,  # 65 fp16
    "V100": 1.0,  # 125 fp16
    "RTX 3090": 0.57,
    "RTX 4090": 1.32,
    "A100": 2.5,
    "H100": 7.9,
    "H200": 7.9,
}

METHODS = ("auto", "wallclock", "device_factor", "flops")


def _names(key: str, device_name: str) -> bool:
    """Whether ``key`` names ``device_name``: a whole word of it, so "A10" matches neither "A10G" nor "A100"."""
    return re.search(rf"(?<![a-z0-9]){re.escape(key.lower())}(?![a-z0-9])", device_name.lower()) is not None


def _lookup_factor(device_name: str, table: dict[str, float]) -> float | None:
    """The factor of the longest table key naming the device ("NVIDIA H100 80GB HBM3" before "H100")."""
    matches = [k for k in table if _names(k, device_name)]
    if not matches:
        return None
    return table[max(matches, key=len)]


@dataclass(frozen=True)
class Pricing:
    """The one place reference-GPU seconds become dollars and counted FLOPs become reference seconds."""

    #: hourly price of the reference GPU, dollars
    usd_per_hour: float
    #: reference peak FLOP/s at the run's precision x the assumed utilisation
    flops_per_second: float

    @classmethod
    def of(cls, config: BudgetConfig, mixed_precision: str = "no") -> Pricing:
        """The pricing of a run's budget settings at its mixed-precision setting."""
        peak = A10_PEAK_FLOPS.get(mixed_precision, A10_PEAK_FLOPS["no"])
        return cls(config.price_per_hour, peak * config.utilisation)

    def usd(self, reference_seconds: float) -> float:
        """Dollars of ``reference_seconds`` on the reference GPU."""
        return reference_seconds * self.usd_per_hour / 3600.0

    def flop_seconds(self, flops: float) -> float:
        """Reference-GPU seconds of ``flops`` counted FLOPs (the flops method)."""
        return flops / self.flops_per_second


@dataclass
class MeterState:
    """Everything the meter counts; saved in checkpoints and ``budget.json``."""

    method: str
    device: str
    usd_per_hour: float
    #: processes (devices) the run trains on, all of kind ``device``
    processes: int = 1
    #: reference seconds per device second (device_factor) or 1.0
    device_factor: float = 1.0
    #: FLOPs of one optimizer step (flops method)
    flops_per_step: float = 0.0
    #: reference peak FLOP/s x utilisation (flops method)
    effective_flops_per_second: float = 0.0
    steps: int = 0
    samples: int = 0
    wall_seconds: float = 0.0
    reference_seconds: float = 0.0
    sampling_reference_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def pricing(self) -> Pricing:
        """The pricing this state was charged at (restored with it on resume)."""
        return Pricing(self.usd_per_hour, self.effective_flops_per_second)

    @property
    def usd(self) -> float:
        """Training dollars spent so far."""
        return self.pricing.usd(self.reference_seconds)

    @property
    def sampling_usd(self) -> float:
        """Sampling dollars spent so far (never part of the training budget)."""
        return self.pricing.usd(self.sampling_reference_seconds)


class BudgetMeter:
    """Charges each optimizer step (and sampling) in reference-GPU dollars."""

    def __init__(
        self,
        config: BudgetConfig,
        mixed_precision: str = "no",
        device: torch.device | None = None,
        processes: int = 1,
    ) -> None:
        """``processes``: how many devices of this kind train the run (each one's time is billed)."""
        if config.usd <= 0:
            raise UserError(f"the budget must be more than $0, got ${config.usd}")
        if not 0.001 <= config.mark_every <= 1:
            raise UserError(
                f"budget.mark_every must be in [0.001, 1] (at most 1,000 checkpoints), got {config.mark_every}"
            )
        if config.usd * config.mark_every < MARK_RESOLUTION_USD:
            raise UserError(
                f"checkpoints ${config.usd * config.mark_every:.3g} apart (budget.usd x budget.mark_every) are closer "
                f"than checkpoint names tell apart (${MARK_RESOLUTION_USD:g}); raise the budget or budget.mark_every"
            )
        if config.price_per_hour <= 0 or not 0 < config.utilisation <= 1:
            raise UserError(
                f"budget.price_per_hour must be more than 0 and budget.utilisation in (0, 1], got "
                f"{config.price_per_hour} and {config.utilisation}"
            )
        if config.method not in METHODS:
            raise UserError(f"unknown budget.method '{config.method}' (valid: {', '.join(METHODS)})")
        self.config = config
        device = device or torch.device("cpu")
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        method = config.method if config.method != "auto" else self._auto_method(name, device)
        pricing = Pricing.of(config, mixed_precision)
        self.state = MeterState(
            method=method,
            device=name,
            usd_per_hour=pricing.usd_per_hour,
            processes=processes,
            effective_flops_per_second=pricing.flops_per_second,
        )
        if method == "device_factor":
            self.state.device_factor = self._device_factor(name)
        elif method == "flops":
            self.state.notes.append(
                f"A10 peak {pricing.flops_per_second / config.utilisation / 1e12:.1f} TFLOP/s ({mixed_precision}) "
                f"x utilisation {config.utilisation}"
            )

    def _auto_method(self, name: str, device: torch.device) -> str:
        if device.type != "cuda":
            return "flops"
        return "wallclock" if _names(self.config.reference_gpu, name) else "device_factor"

    def _device_factor(self, name: str) -> float:
        table = dict(DEVICE_FACTORS)
        if self.config.calibration_file:
            table.update(read_calibration(Path(self.config.calibration_file)))
        factor = _lookup_factor(name, table)
        if factor is None:
            raise UserError(
                f"no device factor for GPU '{name}'; add it to a calibration file (budget.calibration_file) "
                "or use --set budget.method=flops"
            )
        return factor

    @property
    def needs_flops(self) -> bool:
        """Whether the loop must count one step's FLOPs before charging (the flops method)."""
        return self.state.method == "flops" and self.state.flops_per_step == 0.0

    def set_flops_per_step(self, flops: float) -> None:
        """Record the counted FLOPs of one optimizer step (forward + backward of every micro-batch of every
        process)."""
        self.state.flops_per_step = float(flops)
        self.state.notes.append(f"{flops / 1e9:.3f} GFLOP per optimizer step (FlopCounterMode)")

    def _reference_seconds(self, wall: float, flops: float, processes: int = 1) -> float:
        if self.state.method == "flops":
            return self.state.pricing.flop_seconds(flops)
        return wall * self.state.device_factor * processes

    def charge_step(self, wall_seconds: float, samples: int) -> float:
        """Charge one optimizer step (``wall_seconds`` of every process); returns the dollars spent so far."""
        self.state.steps += 1
        self.state.samples += samples
        self.state.wall_seconds += wall_seconds
        step = self._reference_seconds(wall_seconds, self.state.flops_per_step, self.state.processes)
        self.state.reference_seconds += step
        return self.state.usd

    def charge_sampling(self, wall_seconds: float, flops: float) -> None:
        """Charge a sampling pass (kept apart from the training budget)."""
        self.state.sampling_reference_seconds += self._reference_seconds(wall_seconds, flops)

    @property
    def usd(self) -> float:
        """Training dollars spent so far."""
        return self.state.usd

    @property
    def sampling_usd(self) -> float:
        """Sampling dollars spent so far, metered apart from the training budget."""
        return self.state.sampling_usd

    @property
    def exhausted(self) -> bool:
        return self.state.usd >= self.config.usd

    def marks(self) -> list[float]:
        """Dollar marks at which checkpoints are taken: every ``mark_every`` of the budget, and the budget."""
        count = round(1.0 / self.config.mark_every)
        marks = [round(self.config.usd * self.config.mark_every * (i + 1), 12) for i in range(count)]
        return sorted({*[m for m in marks if m < self.config.usd], self.config.usd})

    def to_json(self) -> dict[str, Any]:
        """The meter's state plus the budget, for ``budget.json`` and checkpoints."""
        return {
            **asdict(self.state),
            "usd_spent": self.state.usd,
            "sampling_usd_spent": self.state.sampling_usd,
            "budget_usd": self.config.usd,
        }

    def load_json(self, data: dict[str, Any]) -> None:
        """Restore what `to_json` wrote (resume keeps counting)."""
        fields = set(MeterState.__dataclass_fields__)
        self.state = MeterState(**{k: v for k, v in data.items() if k in fields})


def read_calibration(path: Path) -> dict[str, float]:
    """Measured device factors from a calibration TOML file (``[factors] "NVIDIA H100 80GB HBM3" = 5.1``)."""
    factors = load_toml(path).get("factors")
    if not isinstance(factors, dict) or not factors:
        raise UserError(f'{path} has no [factors] table; write e.g. [factors] "NVIDIA H100 80GB HBM3" = 5.1')
    bad = [str(k) for k, v in factors.items() if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0]
    if bad:
        raise UserError(f"{path}: the factor of {bad[0]!r} must be a number above 0 (reference seconds per second)")
    return {str(k): float(v) for k, v in factors.items()}
