"""The budget meter: device factors, the automatic method, calibration files, marks, and sampling kept apart."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.budget import A10_PEAK_FLOPS, DEVICE_FACTORS, BudgetMeter, Pricing
from bench.config import BudgetConfig
from bench.core.errors import UserError

CUDA = torch.device("cuda")  # never used for compute: the meter only asks its name


@pytest.fixture
def gpu_named(monkeypatch: pytest.MonkeyPatch):
    """Make the meter see a CUDA device of the given name (no GPU needed)."""

    def name(device_name: str) -> None:
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: device_name)

    return name


def _meter(gpu_named, device_name: str, **budget: object) -> BudgetMeter:
    gpu_named(device_name)
    return BudgetMeter(BudgetConfig(**budget), device=CUDA)


@pytest.mark.parametrize(
    ("device_name", "key"),
    [
        ("NVIDIA A10", "A10"),
        ("NVIDIA A10G", "A10G"),
        ("NVIDIA A100-SXM4-80GB", "A100"),
        ("NVIDIA A100 80GB PCIe", "A100"),
        ("NVIDIA L4", "L4"),
        ("NVIDIA L40", "L40"),
        ("NVIDIA L40S", "L40S"),
        ("NVIDIA H100 80GB HBM3", "H100"),
        ("NVIDIA GeForce RTX 4090", "RTX 4090"),
        ("Tesla T4", "T4"),
    ],
)
def test_device_factor_is_the_devices_own(gpu_named, device_name: str, key: str) -> None:
    meter = _meter(gpu_named, device_name, method="device_factor")
    assert meter.state.device_factor == DEVICE_FACTORS[key]


def test_a10_a10g_a100_and_l4_l40_differ() -> None:
    assert len({DEVICE_FACTORS[k] for k in ("A10", "A10G", "A100")}) == 3
    assert DEVICE_FACTORS["L4"] != DEVICE_FACTORS["L40"]


@pytest.mark.parametrize(
    ("device", "device_name", "method"),
    [
        ("cpu", "", "flops"),
        ("cuda", "NVIDIA A10", "wallclock"),
        ("cuda", "NVIDIA A10G", "device_factor"),
        ("cuda", "NVIDIA A100-SXM4-40GB", "device_factor"),
        ("cuda", "NVIDIA H200", "device_factor"),
    ],
)
def test_auto_method(gpu_named, device: str, device_name: str, method: str) -> None:
    gpu_named(device_name)
    assert BudgetMeter(BudgetConfig(), device=torch.device(device)).state.method == method


def test_an_explicit_method_wins_over_auto(gpu_named) -> None:
    assert _meter(gpu_named, "NVIDIA A10", method="flops").state.method == "flops"
    assert BudgetMeter(BudgetConfig(method="wallclock")).state.method == "wallclock"


def test_unknown_method_is_one_sentence() -> None:
    with pytest.raises(UserError, match="valid: auto, wallclock, device_factor, flops") as info:
        BudgetMeter(BudgetConfig(method="guess"))
    assert "\n" not in str(info.value)


def test_unknown_gpu_is_one_sentence_naming_the_way_out(gpu_named) -> None:
    with pytest.raises(UserError) as info:
        _meter(gpu_named, "Imaginary Accelerator 9000")
    message = str(info.value)
    assert "Imaginary Accelerator 9000" in message and "calibration_file" in message and "flops" in message
    assert "\n" not in message


def test_calibration_file_overrides_and_extends_the_table(gpu_named, tmp_path: Path) -> None:
    calibration = tmp_path / "factors.toml"
    calibration.write_text('[factors]\n"NVIDIA H100 80GB HBM3" = 5.1\n"Imaginary Accelerator" = 3\n')
    assert _meter(gpu_named, "NVIDIA H100 80GB HBM3", calibration_file=str(calibration)).state.device_factor == 5.1
    assert _meter(gpu_named, "NVIDIA H100 PCIe", calibration_file=str(calibration)).state.device_factor == 7.9
    assert _meter(gpu_named, "Imaginary Accelerator", calibration_file=str(calibration)).state.device_factor == 3.0


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (None, "not found"),
        ("[factors\n", "not valid TOML"),
        ('[other]\n"A10" = 1\n', "no \\[factors\\] table"),
        ('[factors]\n"NVIDIA H100" = "fast"\n', "must be a number above 0"),
        ('[factors]\n"NVIDIA H100" = 0\n', "must be a number above 0"),
    ],
)
def test_bad_calibration_files_are_one_sentence(gpu_named, tmp_path: Path, text: str | None, needle: str) -> None:
    calibration = tmp_path / "factors.toml"
    if text is not None:
        calibration.write_text(text)
    with pytest.raises(UserError, match=needle) as info:
        _meter(gpu_named, "NVIDIA H100", calibration_file=str(calibration))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("budget", "needle"),
    [
        ({"usd": 0.0}, "more than \\$0"),
        ({"mark_every": 0.0}, "mark_every"),
        ({"mark_every": 1.5}, "mark_every"),
        ({"mark_every": 1e-9}, "at most 1,000 checkpoints"),
        ({"usd": 5e-9, "mark_every": 0.1}, "closer than checkpoint names tell apart"),
        ({"price_per_hour": 0.0}, "price_per_hour"),
        ({"utilisation": 0.0}, "utilisation"),
    ],
)
def test_bad_budget_settings_are_one_sentence(budget: dict, needle: str) -> None:
    with pytest.raises(UserError, match=needle):
        BudgetMeter(BudgetConfig(**budget))


@pytest.mark.parametrize(
    ("mark_every", "expected"),
    [(0.1, [0.1 * i for i in range(1, 11)]), (0.25, [0.25, 0.5, 0.75, 1.0]), (0.3, [0.3, 0.6, 0.9, 1.0]), (1.0, [1.0])],
)
def test_marks_split_the_budget_and_end_on_it(mark_every: float, expected: list[float]) -> None:
    meter = BudgetMeter(BudgetConfig(usd=2.0, mark_every=mark_every))
    marks = meter.marks()
    assert marks == pytest.approx([2.0 * e for e in expected])
    assert marks[-1] == 2.0 and marks == sorted(set(marks))


def test_flops_method_charges_counted_flops_at_the_reference_peak() -> None:
    meter = BudgetMeter(BudgetConfig(usd=1.0, utilisation=0.5, price_per_hour=0.75), mixed_precision="bf16")
    assert meter.needs_flops
    meter.set_flops_per_step(A10_PEAK_FLOPS["bf16"] * 0.5 * 3600)  # one reference hour per step
    assert not meter.needs_flops
    meter.charge_step(wall_seconds=123.0, samples=8)  # wall time does not count on this method
    assert meter.usd == pytest.approx(0.75) and meter.state.samples == 8


def test_wall_clock_times_the_device_factor(gpu_named) -> None:
    meter = _meter(gpu_named, "NVIDIA A100-SXM4-80GB", usd=1.0, price_per_hour=3600.0)
    meter.charge_step(wall_seconds=2.0, samples=4)
    assert meter.usd == pytest.approx(2.0 * DEVICE_FACTORS["A100"])


def test_sampling_cost_is_kept_apart_from_training_cost() -> None:
    meter = BudgetMeter(BudgetConfig(usd=1.0, method="wallclock", price_per_hour=3600.0))
    meter.charge_step(wall_seconds=0.25, samples=1)
    meter.charge_sampling(wall_seconds=5.0, flops=0.0)
    assert meter.usd == pytest.approx(0.25) and meter.sampling_usd == pytest.approx(5.0)
    assert not meter.exhausted  # sampling never spends the training budget
    saved = meter.to_json()
    assert saved["usd_spent"] == pytest.approx(0.25) and saved["sampling_usd_spent"] == pytest.approx(5.0)
    resumed = BudgetMeter(BudgetConfig(usd=1.0, method="wallclock", price_per_hour=3600.0))
    resumed.load_json(saved)
    assert resumed.usd == pytest.approx(0.25) and resumed.sampling_usd == pytest.approx(5.0)


def test_budget_is_exhausted_at_its_dollars() -> None:
    meter = BudgetMeter(BudgetConfig(usd=1.0, method="wallclock", price_per_hour=3600.0))
    meter.charge_step(wall_seconds=0.6, samples=1)
    assert not meter.exhausted
    meter.charge_step(wall_seconds=0.4, samples=1)
    assert meter.exhausted and meter.state.steps == 2


def test_pricing_is_the_one_conversion() -> None:
    pricing = Pricing.of(BudgetConfig(price_per_hour=0.75, utilisation=0.4), "no")
    assert pricing.usd(3600.0) == pytest.approx(0.75)
    assert pricing.flop_seconds(A10_PEAK_FLOPS["no"] * 0.4) == pytest.approx(1.0)
