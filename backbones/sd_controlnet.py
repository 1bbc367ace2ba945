"""`sd`: Stable Diffusion 1.5 with a ControlNet that reads the 5-channel hint (edges + RGBA strokes).

What SD was trained with is kept: the VAE latent (scaled), the DDPM schedule with epsilon prediction and a
uniform timestep, an MSE loss, and classifier-free guidance made possible by dropping captions at training time
(``caption_dropout``, as diffusers' ``proportion_empty_prompts``). The ControlNet is diffusers' own
`ControlNetModel.from_unet(unet, conditioning_channels=5)`, so what `save_trainable` writes loads with
`ControlNetModel.from_pretrained` and runs in `StableDiffusionControlNetPipeline`.

Memory levers (all settings): frozen parts in bf16/fp16 (``weight_dtype``) while the trained weights stay fp32
under accelerate's autocast, gradient checkpointing, SDPA attention, cached text embeddings (the text encoder is
frozen, so an embedding is a pure function of its caption), and 8-bit Adam (``optim.use_8bit_adam``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from backbones.base import Backbone, BackboneConfig, Batch, unet_with_residuals
from backbones.embedding_cache import EmbeddingCache
from backbones.prediction import discrete_scalers, per_sample_loss
from backbones.sd_parts import MAX_TOKENS, SDParts, full_parts, tiny_parts
from backbones.text_encoders import tokenize
from backbones.timesteps import discrete_timesteps
from bench.core.errors import UserError

SAMPLERS = ("ddim", "unipc", "dpm")
#: the base UNet of a tiny run is saved beside the ControlNet, in this subfolder of ``control/``
BASE_UNET_DIR = "base_unet"


@dataclass
class SDConfig(BackboneConfig):
    """Settings of the `sd` backbone; presets in ``backbones/presets/sd.toml``."""

    #: SD 1.5 weights for ``full``: a hub id or a local folder in diffusers layout
    pretrained: str = "stable-diffusion-v1-5/stable-diffusion-v1-5"
    #: "sdpa" (torch's fused scaled-dot-product attention) or "eager" (the reference attention)
    attention: str = "sdpa"
    #: keep text embeddings of seen captions (the text encoder is frozen; embeddings never change)
    cache_text_embeddings: bool = True
    #: hint encoder widths; one stride-2 stage per entry after the first must reach the latent size
    hint_embedding_channels: tuple[int, ...] = (16, 32, 96, 256)
    #: sampler for `sample`: ddim, unipc or dpm (DPM-Solver++)
    sampler: str = "ddim"
    #: ControlNet output scale at sampling time
    conditioning_scale: float = 1.0
    #: Lin et al. 2024's fix of SD's schedule: betas rescaled to zero terminal SNR and trailing sampler steps (with
    #: ``prediction = "v"``). SD 1.5's own schedule leaves 0.068 of the image in x_T, so a model can learn colors
    #: from that trace rather than from the hint, and samples (which start from pure noise) then take their colors
    #: from the noise. A pretrained SD 1.5 (full) was trained without it; only a base trained from scratch can.
    zero_terminal_snr: bool = False
    #: tiny preset: UNet base width and text width
    tiny_width: int = 32
    tiny_text_width: int = 32

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sampler not in SAMPLERS:
            raise ValueError(f"model.sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        if self.attention not in ("sdpa", "eager"):
            raise ValueError(f"model.attention must be sdpa or eager, got {self.attention!r}")


class SDControlNet(Backbone):
    """SD 1.5 (frozen in ``full``; trained too in ``tiny``) + a 5-channel ControlNet."""

    name = "sd"
    space = "latent"
    config_class = SDConfig
    resolution_multiple = 8

    def __init__(self, config: SDConfig, resolution: int) -> None:
        super().__init__(config, resolution)
        from diffusers import ControlNetModel

        if config.preset == "tiny":
            parts = tiny_parts(config.tiny_width, config.tiny_text_width, config.init_seed, config.load_weights)
        else:
            parts = full_parts(config.pretrained, config.load_weights)
        self._check_hint_embedding(parts)
        self.unet, self.vae, self.text_encoder = parts.unet, parts.vae, parts.text_encoder
        self.tokenizer, self.noise_scheduler, self.vae_factor = parts.tokenizer, parts.noise_scheduler, parts.vae_factor
        if config.zero_terminal_snr and config.prediction != "v":
            raise UserError(
                'model.zero_terminal_snr needs model.prediction = "v": at zero SNR the noisy input is the noise '
                "itself, so an epsilon target says nothing about the image"
            )
        if config.prediction == "v":
            extra = {"rescale_betas_zero_snr": True, "timestep_spacing": "trailing"} if config.zero_terminal_snr else {}
            self.noise_scheduler = type(self.noise_scheduler).from_config(
                self.noise_scheduler.config, prediction_type="v_prediction", **extra
            )
        self.controlnet = self.build_control(
            lambda: ControlNetModel.from_unet(
                self.unet,
                conditioning_channels=config.control_hint_channels,
                conditioning_embedding_out_channels=tuple(config.hint_embedding_channels),
            )
        )
        self.configure_weights(self.unet, self.controlnet, frozen=(self.vae, self.text_encoder))
        self._set_attention(config.attention)
        # one caption per encoder call: an embedding then never depends on the captions that shared its batch
        # (float rounding does), so a resumed run matches an uninterrupted one exactly
        self._text_cache = EmbeddingCache(None, "sd-text", batch_size=1) if config.cache_text_embeddings else None

    def _check_hint_embedding(self, parts: SDParts) -> None:
        stages = len(self.config.hint_embedding_channels) - 1
        if 2**stages != parts.vae_factor:
            raise UserError(
                f"model.hint_embedding_channels has {stages + 1} entries, which downsample the hint by {2**stages}, "
                f"but the codec downsamples by {parts.vae_factor}; give {parts.vae_factor.bit_length()} entries"
            )

    def _set_attention(self, kind: str) -> None:
        from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

        processor = AttnProcessor2_0 if kind == "sdpa" else AttnProcessor
        self.unet.set_attn_processor(processor())
        self.controlnet.set_attn_processor(processor())

    # -- conditioning --------------------------------------------------------------------------------------
    def encode_text(self, captions: list[str]) -> torch.Tensor:
        """CLIP hidden states ``B x 77 x D`` for captions; cached per caption when the encoder is frozen."""
        device = self.text_encoder.device
        if self.tokenizer is None or device.type == "meta":  # planning: shapes only
            ids = torch.zeros(len(captions), MAX_TOKENS, dtype=torch.long, device=device)
            return self.text_encoder(ids)[0]
        if self._text_cache is None:
            return self.text_encoder(tokenize(self.tokenizer, captions).to(device))[0]
        return self._text_cache.get(captions, self._encode_uncached, device=device)

    def _encode_uncached(self, captions: list[str]) -> torch.Tensor:
        return self.text_encoder(tokenize(self.tokenizer, captions).to(self.text_encoder.device))[0]

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """Scaled VAE latents of ``pixels`` in [-1, 1] (a sample of the posterior, as SD trains)."""
        with torch.no_grad():
            latents = self.vae.encode(pixels.to(self.vae.dtype)).latent_dist.sample()
        return latents.float() * self.vae.config.scaling_factor

    def predict(
        self, latents: torch.Tensor, t: torch.Tensor, text: torch.Tensor, hint: torch.Tensor, scale: float = 1.0
    ) -> torch.Tensor:
        """The UNet's prediction with the ControlNet's residuals added."""
        control_dtype = self.controlnet.dtype
        residuals = self.controlnet(
            latents.to(control_dtype),
            t,
            encoder_hidden_states=text.to(control_dtype),
            controlnet_cond=self.control_hint(hint).to(control_dtype),
            conditioning_scale=scale,
            return_dict=False,
        )
        return unet_with_residuals(self.unet, latents, t, text, residuals)

    # -- the interface -------------------------------------------------------------------------------------
    def training_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, Any]]:
        latents = self.encode_image(batch.pixels)
        noise = torch.randn_like(latents)
        steps = self.noise_scheduler.config.num_train_timesteps
        t = discrete_timesteps(self.config.timestep_sampling, latents.shape[0], steps, latents.device)
        noisy = self.noise_scheduler.add_noise(latents, noise, t)
        text = self.encode_text(self.drop_captions(batch.captions))
        pred = self.predict(noisy, t, text, batch.hint)
        a, b = discrete_scalers(self.noise_scheduler.alphas_cumprod, t)
        loss = per_sample_loss(pred, latents, noise, a, b, self.config.prediction, self.config.high_noise_weight).mean()
        return loss, {"mse": loss.detach(), "t_mean": t.float().mean()}

    def _sampler(self) -> Any:
        from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, UniPCMultistepScheduler

        cls = {"ddim": DDIMScheduler, "unipc": UniPCMultistepScheduler, "dpm": DPMSolverMultistepScheduler}
        return cls[self.config.sampler].from_config(self.noise_scheduler.config)

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
        size = hints.shape[-1] // self.vae_factor
        channels = self.unet.config.in_channels
        latents = torch.randn((batch, channels, size, size), generator=generator, device=generator.device)
        latents = latents.to(device)
        scheduler = self._sampler()
        scheduler.set_timesteps(steps, device=device)
        latents = latents * scheduler.init_noise_sigma
        guided = guidance > 1.0
        text = self.encode_text(list(prompts))
        if guided:
            text = torch.cat([self.encode_text([""] * batch), text])
            hints = torch.cat([hints, hints])
        hints = hints.to(device)
        for t in scheduler.timesteps:
            model_in = torch.cat([latents, latents]) if guided else latents
            model_in = scheduler.scale_model_input(model_in, t)
            pred = self.predict(model_in, t, text, hints, self.config.conditioning_scale).float()
            if guided:
                uncond, cond = pred.chunk(2)
                pred = uncond + guidance * (cond - uncond)
            latents = scheduler.step(pred, t, latents).prev_sample
        decoded = self.vae.decode((latents / self.vae.config.scaling_factor).to(self.vae.dtype)).sample
        return ((decoded.float() + 1) / 2).clamp(0, 1)

    def save_trainable(self, directory: Path) -> None:
        self.controlnet.save_pretrained(directory, safe_serialization=True)
        if self.config.train_base:
            self.unet.save_pretrained(directory / BASE_UNET_DIR, safe_serialization=True)

    def load_trainable(self, directory: Path) -> None:
        self.load_module(self.controlnet, directory, "ControlNet")
        if self.config.train_base:
            self.load_module(self.unet, Path(directory) / BASE_UNET_DIR, "base UNet")
