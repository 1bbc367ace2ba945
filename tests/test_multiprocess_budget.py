"""The bill of a run on several processes: every device's time, one device kind, said in the report."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.budget import BudgetMeter
from bench.config import BudgetConfig
from bench.core.errors import UserError
from bench.processes import Processes
from bench.report.data import RunInfo, budget_method


def _meter(tmp_path: Path, method: str, processes: int) -> BudgetMeter:
    calibration = tmp_path / "factors.toml"
    calibration.write_text('[factors]\n"cpu" = 2.5\n')  # a fake device kind with a made-up factor
    config = BudgetConfig(usd=1.0, method=method, calibration_file=str(calibration))
    return BudgetMeter(config, "no", torch.device("cpu"), processes=processes)


@pytest.mark.parametrize("method", ["wallclock", "device_factor"])
def test_two_processes_cost_twice_one_at_equal_wall_time(tmp_path: Path, method: str) -> None:
    one, two = _meter(tmp_path, method, 1), _meter(tmp_path, method, 2)
    for meter in (one, two):
        for _ in range(3):
            meter.charge_step(0.5, samples=4)
    assert two.usd == pytest.approx(2 * one.usd) and one.usd > 0
    assert two.state.wall_seconds == one.state.wall_seconds == 1.5
    factor = 2.5 if method == "device_factor" else 1.0
    assert one.state.reference_seconds == pytest.approx(1.5 * factor)


def test_the_flop_method_charges_the_flops_it_is_given(tmp_path: Path) -> None:
    one, two = _meter(tmp_path, "flops", 1), _meter(tmp_path, "flops", 2)
    one.set_flops_per_step(2e9)  # one process counting both micro-batches
    two.set_flops_per_step(2e9)  # the loop's sum of two processes' one micro-batch each
    assert one.charge_step(0.1, 4) == two.charge_step(7.0, 4)


def test_a_run_mixing_device_kinds_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    processes = Processes()
    monkeypatch.setattr(Processes, "gather", lambda self, obj: [obj, "NVIDIA L4"])
    with pytest.raises(UserError, match=r"different devices \(NVIDIA A10, NVIDIA L4\)"):
        processes.device_kind("NVIDIA A10")


def test_the_report_says_how_many_devices_of_which_kind() -> None:
    budget = {"method": "device_factor", "device": "NVIDIA L4", "device_factor": 0.97, "processes": 4}
    run = RunInfo(Path("r"), "r", "sd", "tiny", "", {}, {}, budget, [], [])
    assert budget_method(run).endswith("; 4 x NVIDIA L4, each one's time billed")
    assert "x NVIDIA" not in budget_method(
        RunInfo(Path("r"), "r", "sd", "tiny", "", {}, {}, {**budget, "processes": 1}, [], [])
    )
