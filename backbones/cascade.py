"""`cascade`: Stable Cascade's stage C with a stroke-control module (Stability's ControlNet design, 5 hint channels).

Stage C generates a 16-channel latent of 12 x 12 for a 512 px image (SD: 4 x 64 x 64), so a dollar buys far more
steps; whether that colours strokes better per dollar is what the benchmark asks. What stage C was trained with is
kept: the EfficientNetV2-S encoder's latent as the target, Stability's continuous-time cosine schedule with an
epsilon target and P2 loss weighting (or gdf's adaptive weight), CLIP-G text (sequence + pooled; image embeddings
zero, as in text-to-image use), captions dropped 5 % of the time for classifier-free guidance, gdf's DDPM sampler
with guidance. See `backbones.cascade_schedule`, `backbones.cascade_control`, `backbones.cascade_unet`.

Memory levers (settings): frozen parts in bfloat16 (``weight_dtype``; float16 is refused: stage C overflows in it)
while the control module trains in float32 under accelerate's autocast, gradient checkpointing of stage C's blocks
and of the hint encoder's stages, text embeddings cached per caption (the text encoder is frozen), and the control
computed once per sample rather than per sampling step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from backbones.base import DTYPES, Backbone, BackboneConfig, Batch
from backbones.cascade_control import CascadeControlNet
from backbones.cascade_parts import MAX_TOKENS, full_parts, tiny_parts
from backbones.cascade_schedule import (
    LOSS_WEIGHTS,
    AdaptiveLossWeight,
    guide,
    log_snr,
    noise_cond,
    p2_weight,
    sample_ddpm,
    sample_t,
    scalers,
)
from backbones.cascade_unet import default_control_blocks, resblock_channels
from backbones.efficientnet_encoder import ARCHITECTURES
from backbones.embedding_cache import EmbeddingCache
from backbones.prediction import per_sample_loss
from bench.core.errors import UserError

FLOAT16_REFUSED = (
    "Stable Cascade's stage C overflows in float16, so the cascade backbone runs in bfloat16 or float32 only: "
    "use model.weight_dtype=bfloat16 and optim.mixed_precision=bf16 (or float32 / no)"
)
#: subfolder of ``control/`` holding stage C when it trains (tiny), and the adaptive loss weight's state
STAGE_C_DIR = "stage_c"
LOSS_WEIGHT_FILE = "loss_weight.safetensors"


@dataclass
class CascadeConfig(BackboneConfig):
    """Settings of the `cascade` backbone; presets in ``backbones/presets/cascade.toml``."""

    #: Stable Cascade's prior (stage C, CLIP-G, tokenizer): a hub id or a local folder in diffusers layout
    pretrained: str = "stabilityai/stable-cascade-prior"
    #: stage C's subfolder: "prior_lite" (1B, the A10-sized one) or "prior" (3.6B)
    stage_c: str = "prior_lite"
    #: Stable Cascade's decoder repository (stage B, stage A, and Stability's EfficientNet encoder file)
    decoder: str = "stabilityai/stable-cascade"
    #: stage B's subfolder: "decoder_lite" (700M) or "decoder" (1.5B)
    stage_b: str = "decoder_lite"
    #: Stability's EfficientNetV2-S encoder weights in the decoder repository (or a local path)
    encoder_file: str = "effnet_encoder.safetensors"
    #: the encoder's (and the hint encoder's) architecture: "efficientnet_v2_s" (published), "tiny" (tests)
    encoder_arch: str = "efficientnet_v2_s"
    #: weight-file variant of stages C and B ("" = the float32 files, "bf16" = the smaller bfloat16 ones)
    variant: str = ""
    #: probability of training on the empty caption (Stability's stage C scripts: 5 %)
    caption_dropout: float = 0.05
    #: stage C's latent side (cells); 0: ``ceil(resolution / 42.67)`` as Stable Cascade's prior pipeline sizes it
    #: (12 at 512 px, the benchmark's default); 24 is what stage C was trained on (a 1024 px image)
    latent_side: int = 0
    #: keep text embeddings of seen captions (the text encoder is frozen; embeddings never change)
    cache_text_embeddings: bool = True
    #: "p2" (1 / (1 + SNR), Stability's ControlNet training), "adaptive" (gdf's AdaptiveLossWeight) or "none"
    #: (plain MSE, the usual weighting of a v target)
    loss_weight: str = "p2"
    #: stage C ResBlock visits the control is added before; empty = the default for this stage C's depth
    control_blocks: tuple[int, ...] = ()
    #: full: start the hint encoder from Stable Cascade's EfficientNet encoder ("encoder") or at random ("random")
    hint_encoder_init: str = "encoder"
    #: sampling: gdf's logSNR shift (1 = none) and guidance std rescale ``cfg_rho`` (gdf's default 0.7)
    sampling_shift: float = 1.0
    cfg_rho: float = 0.7
    #: stage B sampling steps when decoding samples (diffusers' default for Stable Cascade's decoder)
    decoder_steps: int = 10
    #: tiny preset: stage C width and text width
    tiny_width: int = 64
    tiny_text_width: int = 32

    #: float16 is refused (`FLOAT16_REFUSED`)
    weight_dtypes = ("float32", "bfloat16")

    def __post_init__(self) -> None:
        if self.weight_dtype == "float16":
            raise ValueError(FLOAT16_REFUSED)
        super().__post_init__()
        if self.loss_weight not in LOSS_WEIGHTS:
            raise ValueError(f"model.loss_weight must be one of {', '.join(LOSS_WEIGHTS)}, got {self.loss_weight!r}")
        if self.encoder_arch not in ARCHITECTURES:
            raise ValueError(f"model.encoder_arch must be one of {', '.join(ARCHITECTURES)}, got {self.encoder_arch!r}")
        if self.hint_encoder_init not in ("encoder", "random"):
            raise ValueError(f"model.hint_encoder_init must be encoder or random, got {self.hint_encoder_init!r}")
        if self.latent_side < 0:
            raise ValueError(f"model.latent_side must be >= 0 (0: from the resolution), got {self.latent_side}")
        if self.sampling_shift <= 0 or not 0.0 <= self.cfg_rho <= 1.0 or self.decoder_steps < 1:
            raise ValueError("model.sampling_shift must be > 0, model.cfg_rho in [0, 1] and model.decoder_steps >= 1")


def _refuse_float16(device: torch.device) -> None:
    """Stop at the first step of a run under float16 autocast (stage C's activations overflow in it)."""
    kind = device.type if device.type in ("cuda", "cpu") else None
    if kind and torch.is_autocast_enabled(kind) and torch.get_autocast_dtype(kind) == torch.float16:
        raise UserError(FLOAT16_REFUSED)


class StableCascadeControl(Backbone):
    """Stable Cascade stage C (frozen in ``full``; trained too in ``tiny``) + a 5-channel control module."""

    name = "cascade"
    space = "latent"
    config_class = CascadeConfig
    #: the tiny codec's factor (full accepts any size: its latent is ceil(side / 42.67))
    resolution_multiple = 16

    def __init__(self, config: CascadeConfig, resolution: int) -> None:
        super().__init__(config, resolution)
        if config.preset == "tiny" and config.latent_side:
            raise UserError("model.latent_side sizes the full preset's EfficientNet latent; the tiny codec's is fixed")
        if config.preset == "tiny":
            parts = tiny_parts(config.tiny_width, config.tiny_text_width, config.init_seed, config.load_weights)
        else:
            parts = full_parts(config, DTYPES[config.weight_dtype])
        self.stage_c, self.text_encoder, self.tokenizer = parts.stage_c, parts.text_encoder, parts.tokenizer
        self.codec = parts.codec
        blocks = self._control_blocks()
        widths = resblock_channels(self.stage_c.config)
        pretrained_hint = parts.hint_init is not None and config.hint_encoder_init == "encoder"
        self.control = self.build_control(
            lambda: CascadeControlNet(
                block_channels=[widths[i] for i in blocks],
                control_blocks=blocks,
                stages=parts.hint_stages,
                feature_channels=parts.hint_features,
                frozen_norm=pretrained_hint,
                hint_channels=config.control_hint_channels,
            )
        )
        if pretrained_hint:
            self.control.init_from_encoder(parts.hint_init)
        self.loss_weighting = AdaptiveLossWeight() if config.loss_weight == "adaptive" else None
        # the codec stays float32: Stability encodes stage C's targets (EfficientNet latents) in float32
        self.configure_weights(self.stage_c, self.control, frozen=(self.text_encoder,), kept_float32=(self.codec,))
        # one caption per encoder call: an embedding then never depends on the captions that shared its batch
        # (float rounding does), so a resumed run matches an uninterrupted one exactly
        self._text_cache = EmbeddingCache(None, "cascade-text", batch_size=1) if config.cache_text_embeddings else None

    def _control_blocks(self) -> list[int]:
        count = len(resblock_channels(self.stage_c.config))
        blocks = [int(b) for b in self.config.control_blocks] or default_control_blocks(self.stage_c.config)
        if not blocks or min(blocks) < 0 or max(blocks) >= count or len(set(blocks)) != len(blocks):
            raise UserError(
                f"model.control_blocks={list(self.config.control_blocks)} must be distinct ResBlock indices in "
                f"0..{count - 1} (this stage C runs {count} ResBlocks); leave it empty for the default"
            )
        return blocks

    # -- conditioning --------------------------------------------------------------------------------------
    @torch.no_grad()
    def _encode_uncached(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        device = self.text_encoder.device
        if self.tokenizer is None or device.type == "meta":  # planning: shapes only
            ids = torch.zeros(len(captions), MAX_TOKENS, dtype=torch.long, device=device)
            mask = None  # an all-ones mask; transformers would read its values, which meta tensors do not have
        else:
            tokens = self.tokenizer(
                captions,
                padding="max_length",
                max_length=self.tokenizer.model_max_length,
                truncation=True,
                return_tensors="pt",
            )
            ids, mask = tokens.input_ids.to(device), tokens.attention_mask.to(device)
        out = self.text_encoder(ids, attention_mask=mask, output_hidden_states=True)
        return out.hidden_states[-1], out.text_embeds.unsqueeze(1)

    def encode_text(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """CLIP's last hidden states ``B x 77 x D`` and pooled projection ``B x 1 x D``, as stage C reads them."""
        if self._text_cache is None or self.text_encoder.device.type == "meta":
            return self._encode_uncached(captions)
        seq_width, pooled_width = self.text_encoder.config.hidden_size, self.text_encoder.config.projection_dim

        def flat(missing: list[str]) -> torch.Tensor:  # one cache entry per caption: sequence and pooled, flattened
            seq, pooled = self._encode_uncached(missing)
            return torch.cat([seq.flatten(1), pooled.flatten(1)], dim=1)

        both = self._text_cache.get(captions, flat)
        seq_size = both.shape[1] - pooled_width
        return both[:, :seq_size].view(len(captions), -1, seq_width), both[:, seq_size:].view(-1, 1, pooled_width)

    def control_features(self, hint: torch.Tensor, latent_side: int) -> list[torch.Tensor | None]:
        """The control module's output for hints in [0, 1], resized so its features match the latent's size."""
        side = latent_side * self.control.stride
        if hint.shape[-1] != side or hint.shape[-2] != side:
            hint = F.interpolate(hint.float(), size=(side, side), mode="bilinear", antialias=True)
        return self.control(self.control_hint(hint))

    def predict(
        self,
        noised: torch.Tensor,
        t_cond: torch.Tensor,
        text: tuple[torch.Tensor, torch.Tensor],
        control: list[torch.Tensor | None],
    ) -> torch.Tensor:
        """Stage C's epsilon prediction with the control added (text = (sequence, pooled) embeddings)."""
        dtype = self.stage_c.dtype
        seq, pooled = text
        image_channels = self.stage_c.config.clip_image_in_channels
        clip_img = None
        if image_channels:  # no CLIP image model: zero image embeddings, as Stability's and diffusers' text-to-image
            clip_img = torch.zeros(noised.shape[0], 1, image_channels, device=noised.device, dtype=dtype)
        return self.stage_c(
            noised.to(dtype),
            t_cond,
            clip_text_pooled=pooled.to(dtype),
            clip_text=seq.to(dtype),
            clip_img=clip_img,
            control=control,
            return_dict=False,
        )[0]

    # -- the interface -------------------------------------------------------------------------------------
    def training_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, Any]]:
        _refuse_float16(batch.pixels.device)
        latents = self.codec.encode(batch.pixels)
        t = sample_t(latents.shape[0], latents.device, self.config.timestep_sampling)
        snr = log_snr(t)
        a, b = (s.view(-1, 1, 1, 1) for s in scalers(snr))
        noise = torch.randn_like(latents)
        noised = a * latents + b * noise
        text = self.encode_text(self.drop_captions(batch.captions))
        control = self.control_features(batch.hint, latents.shape[-1])
        pred = self.predict(noised, noise_cond(snr), text, control)
        config = self.config
        per_image = per_sample_loss(pred, latents, noise, a, b, config.prediction, config.high_noise_weight)
        weight = self._loss_weight(snr)
        loss = (per_image * weight).mean()
        if self.loss_weighting is not None and latents.device.type != "meta":
            self.loss_weighting.update(snr, per_image)
        return loss, {"mse": per_image.mean().detach(), "t_mean": t.mean()}

    def _loss_weight(self, snr: torch.Tensor) -> torch.Tensor:
        if self.loss_weighting is not None:
            return self.loss_weighting(snr)
        return p2_weight(snr) if self.config.loss_weight == "p2" else torch.ones_like(snr)

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
        device = next(self.stage_c.parameters()).device
        _refuse_float16(device)
        batch, size = hints.shape[0], hints.shape[-1]
        side = self.codec.latent_side(size)
        shape = (batch, self.stage_c.config.in_channels, side, side)
        x = torch.randn(shape, generator=generator, device=generator.device).to(device)
        guided = guidance > 1.0
        seq, pooled = self.encode_text(list(prompts))
        control = self.control_features(hints.to(device), side)
        if guided:
            useq, upooled = self.encode_text([""] * batch)
            seq, pooled = torch.cat([seq, useq]), torch.cat([pooled, upooled])
            control = [torch.cat([c, c]) if c is not None else None for c in control]

        def predict_output(x_t: torch.Tensor, t_cond: torch.Tensor) -> torch.Tensor:
            if not guided:
                return self.predict(x_t, t_cond, (seq, pooled), control)
            pred = self.predict(torch.cat([x_t, x_t]), torch.cat([t_cond, t_cond]), (seq, pooled), control).float()
            cond, uncond = pred.chunk(2)
            return guide(cond, uncond, guidance, self.config.cfg_rho)

        latents = sample_ddpm(
            predict_output, x, steps, generator, shift=self.config.sampling_shift, prediction=self.config.prediction
        )
        images = self.codec.decode(latents, list(prompts), generator)
        if images.shape[-1] != size or images.shape[-2] != size:
            images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True)
        return images.float().clamp(0, 1)

    def save_trainable(self, directory: Path) -> None:
        from safetensors.torch import save

        from bench.core.atomic import write_bytes

        directory = Path(directory)
        self.control.save_pretrained(directory, safe_serialization=True)
        if self.config.train_base:
            self.stage_c.save_pretrained(directory / STAGE_C_DIR, safe_serialization=True)
        if self.loss_weighting is not None:
            state = {k: v.detach().cpu().contiguous() for k, v in self.loss_weighting.state_dict().items()}
            write_bytes(directory / LOSS_WEIGHT_FILE, save(state))

    def load_trainable(self, directory: Path) -> None:
        directory = Path(directory)
        self.load_module(self.control, directory, "control module")
        if self.config.train_base:
            self.load_module(self.stage_c, directory / STAGE_C_DIR, "stage C")
        if self.loss_weighting is not None:
            self.load_module(self.loss_weighting, directory, "adaptive loss weight", file=LOSS_WEIGHT_FILE)
