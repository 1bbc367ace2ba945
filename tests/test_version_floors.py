"""pyproject's version floors name the releases that brought the APIs the backbones use."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from bench.core.typed_config import load_toml

PYPROJECT = load_toml(Path(__file__).parents[1] / "pyproject.toml")


def _floor(package: str, requirements: list[str]) -> tuple[int, ...]:
    line = next(r for r in requirements if re.match(rf"{package}\s*>=", r))
    return tuple(int(x) for x in line.split(">=")[1].split(",")[0].strip().split("."))


def test_floors_cover_the_apis_the_backbones_call() -> None:
    import diffusers.models.controlnets  # noqa: F401  (0.32)
    from diffusers.models.attention import AttentionMixin  # noqa: F401  (0.35)

    dependencies = PYPROJECT["project"]["dependencies"]
    assert _floor("diffusers", dependencies) >= (0, 35)
    assert _floor("torch", dependencies) >= (2, 4)  # torch.get_autocast_dtype(device_type)
    assert torch.get_autocast_dtype("cpu") == torch.bfloat16


def test_the_full_extra_carries_what_only_the_full_presets_need() -> None:
    full = PYPROJECT["project"]["optional-dependencies"]["full"]
    assert {re.split(r"[<>=]", r)[0] for r in full} == {"sentencepiece", "bitsandbytes"}
