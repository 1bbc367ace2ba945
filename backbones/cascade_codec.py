"""What stands around stage C: pixels -> its 16-channel latent (the target) and latent -> pixels (for samples).

- `EffnetStageBA` (full): Stability's EfficientNetV2-S encoder makes the latent, in float32 as Stability encodes
  it (the image resized so the latent is ``ceil(side / 42.67)`` wide, the size Stable Cascade's prior pipeline
  generates for that output: 12 x 12 from a 384 px encoder input for 512 px; or ``model.latent_side``); stage B
  (lite by default) and stage A decode through diffusers' `StableCascadeDecoderPipeline`. The decoder is not a
  submodule: it does not train, is not counted by `bench plan`, and lives on the CPU between sampling calls so
  training keeps the GPU memory.
- `TinyCodec` (tiny): the project's small `AutoencoderKL` (``backbones.tiny_codec``, 16 x 4 x 4 for 64 px) plays
  both parts, deterministic like the EfficientNet encoder (posterior mean, scaled to unit variance).

Both: `latent_side(resolution)`, `encode(pixels in [-1, 1])`, `decode(latents, prompts, generator) -> [0, 1]`, and
both stay in eval mode whatever ``train()`` asks: the encoder's last BatchNorm has no parameters, so a frozen-module
rule based on parameters would leave it updating its statistics and normalising with the batch's.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

#: Stable Cascade's image side / stage C latent side (diffusers' prior pipeline ``resolution_multiple``)
RESOLUTION_MULTIPLE = 42.67


class FrozenCodec(nn.Module):
    """A codec never leaves eval mode (fixed normalisation statistics, no dropout)."""

    def train(self, mode: bool = True) -> FrozenCodec:
        return super().train(False)


def exact(pixels: torch.Tensor) -> torch.autocast:
    """Autocast off for ``pixels``' device: a target latent is encoded in the codec's own float32."""
    return torch.autocast(pixels.device.type if pixels.device.type in ("cuda", "cpu") else "cpu", enabled=False)


class EffnetStageBA(FrozenCodec):
    """EfficientNet encoder (frozen) for latents; stage B + stage A (loaded lazily off the module tree) for pixels."""

    def __init__(
        self, encoder: nn.Module, decoder_loader: Any = None, decoder_steps: int = 10, latent_side: int = 0
    ) -> None:
        super().__init__()
        self.encoder = encoder
        #: stage C's latent side; 0: from the image side (`RESOLUTION_MULTIPLE`)
        self.fixed_side = latent_side
        #: a callable returning a `StableCascadeDecoderPipeline`, or None when the run only plans or trains
        self._decoder_loader = decoder_loader
        self._decoder: list[Any] = []  # a list keeps the pipeline out of the module tree (no .to(), no parameters)
        self.decoder_steps = decoder_steps

    def latent_side(self, resolution: int) -> int:
        return self.fixed_side or math.ceil(resolution / RESOLUTION_MULTIPLE)

    @torch.no_grad()
    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        side = self.latent_side(pixels.shape[-1]) * self.encoder.stride
        pixels = pixels.float()
        if pixels.shape[-1] != side:
            pixels = F.interpolate(pixels, size=(side, side), mode="bilinear", antialias=True)
        with exact(pixels):
            return self.encoder.encode(pixels).float()

    def load_decoder(self) -> Any:
        """The stage B + A pipeline (loaded on first use, kept on the CPU)."""
        if not self._decoder:
            if self._decoder_loader is None:
                raise RuntimeError("this backbone was built without a decoder (planning only)")
            self._decoder.append(self._decoder_loader())
        return self._decoder[0]

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, prompts: list[str], generator: torch.Generator) -> torch.Tensor:
        pipe = self.load_decoder()
        pipe.to(latents.device)
        try:
            images = pipe(
                image_embeddings=latents.to(pipe.decoder.dtype),
                prompt=list(prompts),
                num_inference_steps=self.decoder_steps,
                guidance_scale=0.0,
                generator=generator,
                output_type="pt",
            ).images
        finally:
            pipe.decoder.to("cpu")
            pipe.vqgan.to("cpu")
        return images.float().clamp(0, 1)


class TinyCodec(FrozenCodec):
    """The project's tiny `AutoencoderKL` as encoder and decoder (frozen)."""

    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.vae = vae

    @property
    def factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    def latent_side(self, resolution: int) -> int:
        return resolution // self.factor

    @torch.no_grad()
    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        with exact(pixels):
            latents = self.vae.encode(pixels.to(self.vae.dtype)).latent_dist.mode()
        return latents.float() * self.vae.config.scaling_factor

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, prompts: list[str], generator: torch.Generator) -> torch.Tensor:
        scaled = (latents / self.vae.config.scaling_factor).to(self.vae.dtype)
        return ((self.vae.decode(scaled).sample.float() + 1) / 2).clamp(0, 1)
