"""`if`: DeepFloyd IF stage I in pixel space with a stroke-control module; stage II upscales the samples.

The question this backbone answers: a latent model's loss compares colours inside a compressed latent; IF's
stage I diffuses the 64 x 64 pixels themselves, so its loss compares the stroke colours directly.

What IF was trained with is kept: pixels in [-1, 1] at 64 px, its cosine DDPM schedule (1000 steps, epsilon
prediction), uniform timesteps, MSE on the epsilon channels plus the variational term for the learned-variance
channels (`backbones.if_schedule`), T5-XXL embeddings of the lower-cased caption, and classifier-free guidance
made possible by dropping captions at training time. Sampling uses IF's scheduler with its learned range
variance and dynamic thresholding; stage II (frozen, loaded for sampling only) takes the result to 256 px;
images are then resized to the run's resolution.

The hint (run resolution, 5 channels) reaches the frozen UNet through `IFControlNet`: a trainable copy of its
encoder half with a hint encoder and zero-initialised outputs (`backbones.if_control`). T5 never sits on the
accelerator while training: `prepare_captions` (called by the trainer and eval before their loops) encodes every
caption of the run into the shared on-disk cache (`backbones.if_text`), then moves T5 to the CPU, where a caption
first seen later is encoded; with a warm cache T5 is never built.

Memory levers (settings): frozen UNet in bf16 (``weight_dtype``) while the control module trains in fp32 under
accelerate's autocast, gradient checkpointing, cached text embeddings, 8-bit Adam (``optim.use_8bit_adam``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from backbones.base import DTYPES, Backbone, BackboneConfig, Batch, unet_with_residuals
from backbones.if_control import IFControlNet
from backbones.if_parts import full_parts, tiny_parts
from backbones.if_schedule import denoise, variance_term
from backbones.if_text import MAX_TOKENS, default_cache_dir
from backbones.if_upscaler import Upscaler
from backbones.prediction import discrete_scalers, epsilon_from, per_sample_loss
from backbones.timesteps import discrete_timesteps
from bench.core.errors import UserError

#: stage I's native resolution, pixels
STAGE_I_SIZE = 64
#: the base UNet of a run that trains it (tiny) is saved beside the control module, in this subfolder
BASE_UNET_DIR = "base_unet"


@dataclass
class IFConfig(BackboneConfig):
    """Settings of the `if` backbone; presets in ``backbones/presets/if.toml``."""

    #: stage I weights for ``full`` (hub id or diffusers folder): IF-I-M (400M); IF-I-L / IF-I-XL are larger
    pretrained: str = "DeepFloyd/IF-I-M-v1.0"
    #: where T5-XXL comes from (its ``text_encoder`` / ``tokenizer`` subfolders); empty: ``pretrained``
    text_encoder: str = ""
    #: stage II for samples (64 -> 256 px), hub id or folder; empty: no stage II (samples are stage I's 64 px)
    upscaler: str = "DeepFloyd/IF-II-M-v1.0"
    #: weight file variant to load ("fp16" halves the download; "" loads the default fp32 files)
    variant: str = "fp16"
    #: directory of the shared text-embedding cache; empty: $STROKEBENCH_CACHE/text-embeddings
    text_cache_dir: str = ""
    #: weight of the learned-variance (variational bound) term; 0 trains epsilon only
    variance_loss_weight: float = 1.0
    #: reverse-step variance when sampling: "learned" (IF's learned range) or "fixed_small"
    sample_variance: str = "learned"
    #: hint encoder widths: one stride-2 stage per halving from the hint size to 64 px uses the first entries
    hint_embedding_channels: tuple[int, ...] = (16, 32, 96, 256)
    #: zero-initialise the hint encoder's last layer as diffusers' ControlNet does (see IFControlNet.from_unet)
    zero_hint_output: bool = False
    #: control output scale at sampling time
    conditioning_scale: float = 1.0
    #: stage II sampling: steps, guidance, augmentation noise level, whether it sees the strokes (see if_upscaler)
    upscaler_steps: int = 25
    upscaler_guidance: float = 4.0
    upscaler_noise_level: int = 250
    upscaler_hint: bool = False
    #: tiny preset: UNet base width, T5 width
    tiny_width: int = 10
    tiny_text_width: int = 32

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sample_variance not in ("learned", "fixed_small"):
            raise ValueError(f"model.sample_variance must be learned or fixed_small, got {self.sample_variance!r}")
        if not 0 <= self.upscaler_noise_level < 1000:
            raise ValueError(f"model.upscaler_noise_level must be in [0, 1000), got {self.upscaler_noise_level}")


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Square ``images`` at ``size`` px: area averaging down (no aliasing of thin strokes), bilinear up."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    if images.shape[-1] > size:
        return F.interpolate(images, size=(size, size), mode="area")
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)


def hint_size_for(resolution: int) -> int:
    """The hint resolution the control module reads: 64 px times the power of two nearest the run's ratio."""
    return STAGE_I_SIZE * 2 ** max(0, round(math.log2(resolution / STAGE_I_SIZE)))


class DeepFloydIF(Backbone):
    """IF stage I (frozen in ``full``; trained too in ``tiny``) + `IFControlNet`; stage II for samples."""

    name = "if"
    space = "pixel"
    config_class = IFConfig

    def __init__(self, config: IFConfig, resolution: int) -> None:
        super().__init__(config, resolution)
        dtype = DTYPES[config.weight_dtype]
        cache_dir = Path(config.text_cache_dir).expanduser() if config.text_cache_dir else default_cache_dir()
        if config.preset == "tiny":
            parts = tiny_parts(
                config.tiny_width, config.tiny_text_width, config.init_seed, config.load_weights, cache_dir
            )
        else:
            text_source = config.text_encoder or config.pretrained
            parts = full_parts(config.pretrained, text_source, dtype, config.variant, config.load_weights, cache_dir)
        self.unet, self.noise_scheduler, self.embedder = parts.unet, parts.noise_scheduler, parts.embedder
        if config.prediction == "v":
            # diffusers' DDPM steps on v with IF's learned-range variance too. Trailing steps start sampling at
            # t = 999, where IF's cosine schedule leaves nothing of the image (IF's own leading steps start at
            # t = 950, which still holds 0.076 of it, a trace pure noise lacks): Lin et al.'s sampling fix
            self.noise_scheduler = type(self.noise_scheduler).from_config(
                self.noise_scheduler.config, prediction_type="v_prediction", timestep_spacing="trailing"
            )
        self.text_width = parts.text_width
        self.hint_size = hint_size_for(resolution)
        stages = round(math.log2(self.hint_size // STAGE_I_SIZE))
        widths = tuple(config.hint_embedding_channels)[: stages + 1]
        if len(widths) < stages + 1:
            raise UserError(
                f"model.hint_embedding_channels needs {stages + 1} entries to bring a {self.hint_size} px hint to "
                f"64 px, got {len(config.hint_embedding_channels)}"
            )
        self.control = self.build_control(
            lambda: IFControlNet.from_unet(
                self.unet,
                hint_size=self.hint_size,
                hint_embedding_channels=widths,
                zero_hint_output=config.zero_hint_output,
                hint_channels=config.control_hint_channels,
            )
        )
        self.configure_weights(self.unet, self.control)
        self.upscaler = None
        if config.preset != "tiny" and config.upscaler:
            self.upscaler = Upscaler(
                config.upscaler,
                dtype=dtype,
                variant=config.variant,
                steps=config.upscaler_steps,
                guidance=config.upscaler_guidance,
                noise_level=config.upscaler_noise_level,
                hint=config.upscaler_hint,
            )

    # -- conditioning --------------------------------------------------------------------------------------
    def encode_text(self, captions: list[str]) -> torch.Tensor:
        """T5 hidden states ``B x 77 x D`` on the UNet's device, from the embedding cache."""
        device = self.unet.device
        if self.embedder is None or device.type == "meta":  # planning: shapes only
            return torch.zeros(len(captions), MAX_TOKENS, self.text_width, device=device)
        return self.embedder.embed(list(captions)).to(device)

    def prepare_captions(self, captions: Iterable[str]) -> int:
        """Fill the embedding cache for ``captions`` (and the empty caption of guidance) before a loop, in batches
        on the accelerator, then free T5: the loop never loads it unless a caption first appears later."""
        return 0 if self.embedder is None else self.embedder.precompute(["", *captions])

    def predict(
        self, x: torch.Tensor, t: torch.Tensor, text: torch.Tensor, hint: torch.Tensor, scale: float = 1.0
    ) -> torch.Tensor:
        """Stage I's 6-channel output (epsilon, variance) with the control module's residuals added."""
        dtype, control_hint = self.control.dtype, self.control_hint(hint)
        residuals = self.control(x.to(dtype), t, text.to(dtype), control_hint.to(dtype), conditioning_scale=scale)
        return unet_with_residuals(self.unet, x, t, text, residuals)

    # -- the interface -------------------------------------------------------------------------------------
    def training_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, Any]]:
        x0 = resize(batch.pixels, STAGE_I_SIZE)
        hint = resize(batch.hint, self.hint_size)
        noise = torch.randn_like(x0)
        steps = self.noise_scheduler.config.num_train_timesteps
        t = discrete_timesteps(self.config.timestep_sampling, x0.shape[0], steps, x0.device)
        xt = self.noise_scheduler.add_noise(x0, noise, t)
        out = self.predict(xt, t, self.encode_text(self.drop_captions(batch.captions)), hint)
        channels, kind = x0.shape[1], self.config.prediction
        a, b = discrete_scalers(self.noise_scheduler.alphas_cumprod, t)
        mse = per_sample_loss(out[:, :channels], x0, noise, a, b, kind, self.config.high_noise_weight).mean()
        logs: dict[str, Any] = {"mse": mse.detach(), "t_mean": t.float().mean()}
        loss = mse
        if out.shape[1] == 2 * channels and self.config.variance_loss_weight > 0:
            eps = epsilon_from(out[:, :channels].float(), xt.float(), a, b, kind)
            vb = variance_term(self.noise_scheduler.alphas_cumprod, x0, xt, t, eps, out[:, channels:])
            loss = loss + self.config.variance_loss_weight * vb
            logs["vb"] = vb.detach()
        return loss, logs

    def _scheduler(self) -> Any:
        from diffusers import DDPMScheduler

        extra = {"variance_type": "fixed_small"} if self.config.sample_variance == "fixed_small" else {}
        return DDPMScheduler.from_config(self.noise_scheduler.config, **extra)

    @torch.no_grad()
    def sample(
        self,
        hints: torch.Tensor,
        prompts: list[str],
        *,
        steps: int,
        guidance: float,
        generator: torch.Generator,
    ) -> torch.Tensor:
        device = self.unet.device
        batch = hints.shape[0]
        channels = self.unet.config.in_channels
        noise = torch.randn((batch, channels, STAGE_I_SIZE, STAGE_I_SIZE), generator=generator, device=generator.device)
        text, uncond = self.encode_text(list(prompts)), self.encode_text([""] * batch)
        hint = resize(hints.to(device).float(), self.hint_size)
        both_text, both_hint = torch.cat([uncond, text]), torch.cat([hint, hint])
        scale = self.config.conditioning_scale

        def predict(x: torch.Tensor, t: torch.Tensor, doubled: bool) -> torch.Tensor:
            return self.predict(x, t, both_text if doubled else text, both_hint if doubled else hint, scale)

        x = denoise(
            predict, self._scheduler(), noise.to(device), steps, guidance, generator, self.config.sample_variance
        )
        if self.upscaler is not None:
            x = self.upscaler(x, text, uncond, resize(hint, STAGE_I_SIZE), generator)
        images = ((x.float() + 1) / 2).clamp(0, 1)
        return resize(images, self.resolution).clamp(0, 1)

    def save_trainable(self, directory: Path) -> None:
        self.control.save_pretrained(directory, safe_serialization=True)
        if self.config.train_base:
            self.unet.save_pretrained(directory / BASE_UNET_DIR, safe_serialization=True)

    def load_trainable(self, directory: Path) -> None:
        self.load_module(self.control, directory, "control module")
        if self.config.train_base:
            self.load_module(self.unet, Path(directory) / BASE_UNET_DIR, "base UNet")
