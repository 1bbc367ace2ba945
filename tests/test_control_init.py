"""`model.zero_init_control`: ControlNet's zero-initialised outputs by default, live outputs when asked."""

from __future__ import annotations

import pytest
import torch

from backbones import create_backbone
from backbones.base import revive_zero_layers


def _control(backbone: torch.nn.Module) -> torch.nn.Module:
    return getattr(backbone, "controlnet", None) or backbone.control


def _zero_layers(module: torch.nn.Module) -> list[str]:
    return [
        n
        for n, m in module.named_modules()
        if isinstance(getattr(m, "weight", None), torch.Tensor) and not m.weight.any()
    ]


@pytest.mark.parametrize("name", ["sd", "cascade", "if"])
def test_zero_init_is_the_default_and_can_be_turned_off_deterministically(name: str) -> None:
    default = create_backbone(name, "tiny", 64, {"zero_init_control": True})
    assert _zero_layers(_control(default)), "the default control module starts with zero output layers"
    live = [create_backbone(name, "tiny", 64, {"zero_init_control": False}) for _ in range(2)]
    assert _zero_layers(_control(live[0])) == []
    first, second = (_control(b).state_dict() for b in live)
    assert all(torch.equal(first[key], second[key]) for key in first)  # same seed, same live init


def test_revive_leaves_non_zero_layers_alone() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 2, 1), torch.nn.Conv2d(2, 2, 1))
    torch.nn.init.zeros_(net[1].weight)
    kept = net[0].weight.clone()
    assert revive_zero_layers(net) == 1
    assert torch.equal(net[0].weight, kept) and net[1].weight.any()
