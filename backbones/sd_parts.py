"""The parts of the `sd` backbone, built for a preset: pretrained SD 1.5 (full) or the same classes small (tiny).

Why separate from `sd_controlnet`: what the backbone *does* (noise, predict, sample) is the same for both presets;
only where its parts come from differs. ``full`` loads SD 1.5 through `backbones.hub` (one-sentence errors when the
weights are missing) or, for `bench plan`, builds them from the architecture configs shipped in
``backbones/configs/`` with no weight file read. ``tiny`` builds small widths from code, seeded so every process
builds identical frozen weights, and uses the codec the project trained (`backbones.tiny_codec`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from backbones import hub
from backbones.text_encoders import check_tokenizer, tiny_clip_config, tiny_tokenizer

CONFIG_DIR = Path(__file__).parent / "configs"
#: the tokenizer length SD's text encoder was trained with
MAX_TOKENS = 77


@dataclass
class SDParts:
    """Everything an `sd` backbone is made of; ``tokenizer`` is None only when planning without weights."""

    unet: Any
    vae: Any
    text_encoder: Any
    tokenizer: Any
    noise_scheduler: Any
    #: the codec's downsampling factor (8 for SD's VAE, 4 for the tiny codec)
    vae_factor: int


def _shipped(name: str) -> dict[str, Any]:
    return json.loads((CONFIG_DIR / name).read_text())


def vae_factor(vae: Any) -> int:
    """Spatial downsampling of an `AutoencoderKL`: one halving per encoder block after the first."""
    return 2 ** (len(vae.config.block_out_channels) - 1)


def full_parts(source: str, load_weights: bool) -> SDParts:
    """SD 1.5's UNet, VAE, CLIP text encoder, tokenizer and DDPM schedule from ``source`` (hub id or folder)."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    if not load_weights:
        unet_config = hub.load_config(
            UNet2DConditionModel, source, subfolder="unet", fallback=CONFIG_DIR / "sd15_unet.json"
        )
        vae_config = hub.load_config(AutoencoderKL, source, subfolder="vae", fallback=CONFIG_DIR / "sd15_vae.json")
        vae = AutoencoderKL.from_config(vae_config)
        return SDParts(
            unet=UNet2DConditionModel.from_config(unet_config),
            vae=vae,
            text_encoder=CLIPTextModel(CLIPTextConfig(**_shipped("sd15_text_encoder.json"))),
            tokenizer=None,
            noise_scheduler=DDPMScheduler.from_config(_shipped("sd15_scheduler.json")),
            vae_factor=vae_factor(vae),
        )
    what = f"Stable Diffusion 1.5 ({source})"
    common = {"what": what, "use_safetensors": True}
    vae = hub.load_pretrained(AutoencoderKL, source, subfolder="vae", **common)  # fails first, with the clear message
    tokenizer = hub.load_pretrained(CLIPTokenizer, source, subfolder="tokenizer", what=what)
    check_tokenizer(tokenizer, what, source)
    return SDParts(
        unet=hub.load_pretrained(UNet2DConditionModel, source, subfolder="unet", **common),
        vae=vae,
        text_encoder=hub.load_pretrained(CLIPTextModel, source, subfolder="text_encoder", **common),
        tokenizer=tokenizer,
        noise_scheduler=hub.load_pretrained(DDPMScheduler, source, subfolder="scheduler", what=what),
        vae_factor=vae_factor(vae),
    )


def tiny_parts(width: int, text_width: int, seed: int, load_weights: bool) -> SDParts:
    """SD's classes at small widths: a 2-level UNet on the tiny codec's latent, a 2-layer CLIP text model."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel

    from backbones import tiny_codec

    tokenizer = tiny_tokenizer(MAX_TOKENS)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vae = tiny_codec.load_codec("sd") if load_weights else AutoencoderKL.from_config(tiny_codec.codec_config("sd"))
        unet = UNet2DConditionModel(
            sample_size=64 // vae_factor(vae),
            in_channels=vae.config.latent_channels,
            out_channels=vae.config.latent_channels,
            block_out_channels=(width, 2 * width),
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            layers_per_block=1,
            cross_attention_dim=text_width,
            attention_head_dim=8,
            norm_num_groups=8,
        )
        text_encoder = CLIPTextModel(tiny_clip_config(tokenizer, text_width, layers=2, heads=2))
    scheduler = DDPMScheduler.from_config(_shipped("sd15_scheduler.json"))
    return SDParts(unet, vae, text_encoder, tokenizer, scheduler, vae_factor(vae))
