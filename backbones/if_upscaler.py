"""IF stage II: the frozen 64 -> 256 px super-resolution UNet that turns stage I's samples into eval images.

It follows diffusers' `IFSuperResolutionPipeline`: the 64 px image is upscaled bilinearly, noised to
``noise_level`` with stage II's image-noising schedule (the augmentation it was trained with), concatenated to
the sample as 3 extra input channels, and passed as ``class_labels``; guidance mixes epsilon and keeps the
conditional learned variance. Stage II is loaded on the first call only (it is needed for samples, never for
training) and uses the same cached T5 embeddings as stage I.

Whether stage II sees the hint (``hint=True``, default off): stage II has no control module and stays frozen, so
"seeing the hint" means the stroke colours are painted into the 64 px image it upscales (``rgb x alpha`` over
the image), which pulls regions the strokes cover toward their exact colours. Off by default so that the
benchmark measures what the trained stage-I control achieved, not a paint-over.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from backbones import hub
from backbones.if_schedule import denoise


class Upscaler:
    """Stage II from ``source`` (hub id or folder), loaded lazily on ``device`` in ``dtype``."""

    def __init__(
        self,
        source: str,
        *,
        dtype: torch.dtype,
        variant: str,
        steps: int,
        guidance: float,
        noise_level: int,
        hint: bool,
    ) -> None:
        self.source, self.dtype, self.variant = source, dtype, variant
        self.steps, self.guidance, self.noise_level, self.hint = steps, guidance, noise_level, hint
        self._parts: tuple[Any, Any, Any] | None = None

    def _load(self, device: torch.device) -> tuple[Any, Any, Any]:
        if self._parts is None:
            from diffusers import DDPMScheduler, UNet2DConditionModel

            what = f"DeepFloyd IF stage II ({self.source})"
            options: dict[str, Any] = {"use_safetensors": True, "torch_dtype": self.dtype}
            if self.variant:
                options["variant"] = self.variant
            unet = hub.load_pretrained(
                UNet2DConditionModel, self.source, subfolder="unet", what=what, gated=True, **options
            )
            scheduler = hub.load_pretrained(DDPMScheduler, self.source, subfolder="scheduler", what=what, gated=True)
            noising = hub.load_pretrained(
                DDPMScheduler, self.source, subfolder="image_noising_scheduler", what=what, gated=True
            )
            self._parts = (unet.to(device).eval().requires_grad_(False), scheduler, noising)
        return self._parts

    @torch.no_grad()
    def __call__(
        self,
        images: torch.Tensor,
        text: torch.Tensor,
        uncond: torch.Tensor,
        hint: torch.Tensor,
        generator: torch.Generator,
    ) -> torch.Tensor:
        """256 px images in about [-1, 1] from 64 px ``images`` in [-1, 1]; ``hint`` is ``B x 5 x 64 x 64``."""
        from diffusers import DDPMScheduler

        unet, scheduler_template, noising = self._load(images.device)
        if self.hint:
            alpha = hint[:, 4:5]
            images = images * (1 - alpha) + (hint[:, 1:4] * 2 - 1) * alpha
        size = unet.config.sample_size
        upscaled = F.interpolate(images.float(), size=(size, size), mode="bilinear", align_corners=True)
        level = torch.full((images.shape[0],), self.noise_level, device=images.device, dtype=torch.long)
        aug = torch.randn(upscaled.shape, generator=generator, device=generator.device).to(images.device)
        upscaled = noising.add_noise(upscaled, aug, level)
        doubled_text, doubled_up = torch.cat([uncond, text]), torch.cat([upscaled, upscaled])
        dtype = unet.dtype

        def predict(x: torch.Tensor, t: torch.Tensor, doubled: bool) -> torch.Tensor:
            cond, states = (doubled_up, doubled_text) if doubled else (upscaled, text)
            labels = torch.cat([level, level]) if doubled else level
            return unet(
                torch.cat([x, cond], dim=1).to(dtype),
                t,
                encoder_hidden_states=states.to(dtype),
                class_labels=labels,
                return_dict=False,
            )[0]

        noise = torch.randn(upscaled.shape, generator=generator, device=generator.device).to(images.device)
        scheduler = DDPMScheduler.from_config(scheduler_template.config)
        return denoise(predict, scheduler, noise, self.steps, self.guidance, generator)
