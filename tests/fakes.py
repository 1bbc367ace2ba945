"""A tiny fake backbone for loop tests: a real `Backbone` with a few hundred weights, no codec, no text."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from backbones.base import Backbone, BackboneConfig, Batch


@dataclass
class FakeConfig(BackboneConfig):
    width: int = 8
    #: make the loss non-finite after this many forward calls (0 = never): NaN handling tests
    nan_after: int = 0

    @classmethod
    def from_preset(cls, backbone: str, preset: str, overrides: dict[str, Any] | None = None) -> FakeConfig:
        from bench.config import update_dataclass

        return update_dataclass(cls(preset=preset), overrides or {}, prefix="model")


class FakeBackbone(Backbone):
    """Denoises pixels from (noisy pixels, hint) with two convolutions."""

    name = "fake"
    space = "pixel"
    config_class = FakeConfig

    def __init__(self, config: FakeConfig, resolution: int) -> None:
        super().__init__(config, resolution)
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(8, config.width, 3, padding=1),
            torch.nn.SiLU(),
            torch.nn.Conv2d(config.width, 3, 3, padding=1),
        )
        self.frozen = torch.nn.Linear(2, 2)
        self.frozen.requires_grad_(False)
        self.calls = 0

    def training_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        self.calls += 1
        noise = torch.randn_like(batch.pixels)
        pred = self.net(torch.cat([batch.pixels + noise, batch.hint], dim=1))
        loss = torch.nn.functional.mse_loss(pred, noise)
        if self.config.nan_after and self.calls > self.config.nan_after:
            loss = loss * float("nan")
        return loss, {"noise_std": noise.std().detach()}

    def trainable_parameters(self) -> Iterator[torch.nn.Parameter]:
        return iter(self.net.parameters())

    @torch.no_grad()
    def sample(self, hints, prompts, *, steps, guidance, generator) -> torch.Tensor:
        x = torch.randn(hints.shape[0], 3, *hints.shape[2:], generator=generator)
        for _ in range(steps):
            x = x - 0.5 * self.net(torch.cat([x, hints], dim=1))
        return ((x.clamp(-1, 1) + 1) / 2).float()

    def save_trainable(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.net.state_dict().items()}, str(directory / "net.safetensors"))

    def load_trainable(self, directory: Path) -> None:
        self.load_module(self.net, directory, "net", file="net.safetensors")
