"""The parts of the `cascade` backbone for a preset: Stable Cascade's published models (full) or the same classes
small (tiny).

Why separate from `backbones.cascade`: what the backbone does (noise, predict, sample) is the same for both presets;
only where its parts come from differs. ``full`` loads stage C, the CLIP-G text encoder and its tokenizer from
``stabilityai/stable-cascade-prior``, Stability's EfficientNet encoder file and stages B (lite) + A from
``stabilityai/stable-cascade``, every load through `backbones.hub` (one-sentence errors when weights are missing),
or, for `bench plan`, builds them from the architecture configs shipped in ``backbones/configs/`` with no weight file
read. ``tiny`` builds small widths in code, seeded so every process builds identical frozen weights, on the project's
tiny codec and offline tokenizer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from backbones import hub
from backbones.cascade_codec import EffnetStageBA, TinyCodec
from backbones.cascade_unet import ControlledStableCascadeUNet
from backbones.efficientnet_encoder import EfficientNetEncoder, architecture, load_stability_encoder
from backbones.text_encoders import check_tokenizer, tiny_clip_config, tiny_tokenizer

CONFIG_DIR = Path(__file__).parent / "configs"
#: CLIP's context length, what stage C's text conditioning was trained with
MAX_TOKENS = 77


@dataclass
class CascadeParts:
    """Everything a `cascade` backbone is made of; ``tokenizer`` is None only when planning without weights."""

    stage_c: ControlledStableCascadeUNet
    text_encoder: Any
    tokenizer: Any
    #: `EffnetStageBA` (full) or `TinyCodec` (tiny)
    codec: Any
    #: the frozen EfficientNet encoder the hint encoder starts from (full), else None
    hint_init: EfficientNetEncoder | None
    #: architecture of the control module's feature extractor (None: EfficientNetV2-S) and its output width
    hint_stages: list | None
    hint_features: int


def shipped_config(name: str) -> dict[str, Any]:
    """An architecture config shipped in ``backbones/configs/`` (private keys dropped)."""
    config = json.loads((CONFIG_DIR / name).read_text())
    return {k: v for k, v in config.items() if not k.startswith("_")}


def full_parts(cfg: Any, dtype: torch.dtype) -> CascadeParts:
    """Stable Cascade's stage C (``cfg.stage_c``), CLIP-G, EfficientNet encoder and stage B + A decoder."""
    from diffusers import StableCascadeUNet
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, CLIPTokenizer

    if not cfg.load_weights:
        config = hub.load_config(
            StableCascadeUNet,
            cfg.pretrained,
            subfolder=cfg.stage_c,
            fallback=CONFIG_DIR / f"cascade_{cfg.stage_c}.json",
        )
        text_config = CLIPTextConfig(**shipped_config("cascade_text_encoder.json"))
        stages, features = architecture(cfg.encoder_arch)
        encoder = EfficientNetEncoder(stages=stages, feature_channels=features)
        return CascadeParts(
            stage_c=ControlledStableCascadeUNet.from_config({k: v for k, v in config.items() if not k.startswith("_")}),
            text_encoder=CLIPTextModelWithProjection(text_config),
            tokenizer=None,
            codec=EffnetStageBA(encoder, None, cfg.decoder_steps, cfg.latent_side),
            hint_init=encoder,
            hint_stages=stages,
            hint_features=features,
        )
    what = f"Stable Cascade stage C ({cfg.pretrained}, {cfg.stage_c})"
    weights = {"use_safetensors": True, "torch_dtype": dtype, **({"variant": cfg.variant} if cfg.variant else {})}
    stage_c = hub.load_pretrained(
        ControlledStableCascadeUNet, cfg.pretrained, subfolder=cfg.stage_c, what=what, **weights
    )
    tokenizer = hub.load_pretrained(CLIPTokenizer, cfg.pretrained, subfolder="tokenizer", what=what)
    check_tokenizer(tokenizer, what, cfg.pretrained)
    text_encoder = hub.load_pretrained(
        CLIPTextModelWithProjection,
        cfg.pretrained,
        subfolder="text_encoder",
        what=f"Stable Cascade's CLIP-G text encoder ({cfg.pretrained})",
        use_safetensors=True,
    )
    encoder = load_stability_encoder(cfg.decoder, cfg.encoder_file, arch=cfg.encoder_arch)
    decoder = _decoder_pipeline(cfg, dtype, text_encoder, tokenizer)
    return CascadeParts(
        stage_c=stage_c,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        codec=EffnetStageBA(encoder, lambda: decoder, cfg.decoder_steps, cfg.latent_side),
        hint_init=encoder,
        hint_stages=encoder.config.stages,
        hint_features=encoder.config.feature_channels,
    )


def _decoder_pipeline(cfg: Any, dtype: torch.dtype, text_encoder: Any, tokenizer: Any) -> Any:
    """diffusers' `StableCascadeDecoderPipeline` from stage B (``cfg.stage_b``) + stage A, sharing our CLIP-G.

    Loaded when the backbone is built, so missing decoder weights fail at once rather than after training; kept on
    the CPU until a sample is drawn.
    """
    from diffusers import DDPMWuerstchenScheduler, StableCascadeDecoderPipeline, StableCascadeUNet
    from diffusers.pipelines.stable_cascade.pipeline_stable_cascade import PaellaVQModel  # its home moves

    what = f"Stable Cascade stages B and A ({cfg.decoder}, {cfg.stage_b})"
    weights = {"use_safetensors": True, "torch_dtype": dtype, **({"variant": cfg.variant} if cfg.variant else {})}
    decoder = hub.load_pretrained(StableCascadeUNet, cfg.decoder, subfolder=cfg.stage_b, what=what, **weights)
    vqgan = hub.load_pretrained(PaellaVQModel, cfg.decoder, subfolder="vqgan", what=what, torch_dtype=dtype)
    scheduler = hub.load_pretrained(DDPMWuerstchenScheduler, cfg.decoder, subfolder="scheduler", what=what)
    for module in (decoder, vqgan):
        module.requires_grad_(False)
        module.eval()
    pipe = StableCascadeDecoderPipeline(
        decoder=decoder, tokenizer=tokenizer, text_encoder=text_encoder, scheduler=scheduler, vqgan=vqgan
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_stage_c_config(width: int, text_width: int, latent_channels: int) -> dict[str, Any]:
    """Stage C's architecture at small width: two levels at one resolution (``switch_level`` False, as the real
    model), ResBlock + timestep + attention layers, CLIP text sequence + pooled + (zero) image conditioning."""
    return {
        "in_channels": latent_channels,
        "out_channels": latent_channels,
        "timestep_ratio_embedding_dim": 64,
        "patch_size": 1,
        "conditioning_dim": width,
        "block_out_channels": [width, width],
        "num_attention_heads": [max(1, width // 16)] * 2,
        "down_num_layers_per_block": [1, 2],
        "up_num_layers_per_block": [2, 1],
        "down_blocks_repeat_mappers": [1, 1],
        "up_blocks_repeat_mappers": [1, 1],
        "block_types_per_layer": [["SDCascadeResBlock", "SDCascadeTimestepBlock", "SDCascadeAttnBlock"]] * 2,
        "clip_text_in_channels": text_width,
        "clip_text_pooled_in_channels": text_width,
        "clip_image_in_channels": 16,
        "clip_seq": 4,
        "kernel_size": 3,
        "dropout": [0.0, 0.0],
        "self_attn": True,
        "timestep_conditioning_type": ["sca", "crp"],
        "switch_level": [False],
    }


def tiny_parts(width: int, text_width: int, seed: int, load_weights: bool) -> CascadeParts:
    """Stage C's classes at small widths on the tiny codec's 16-channel latent; a 2-layer CLIP text model."""
    from diffusers import AutoencoderKL
    from transformers import CLIPTextModelWithProjection

    from backbones import tiny_codec

    # the hint encoder: EfficientNetV2's blocks at small widths, stride 16, so its 4 x 4 features for 64 px match
    # the tiny latent as EfficientNetV2-S's 12 x 12 match stage C's latent of the 384 px encoder input
    hint_stages, hint_features = architecture("tiny")
    tokenizer = tiny_tokenizer(MAX_TOKENS)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if load_weights:
            vae = tiny_codec.load_codec("cascade")
        else:
            vae = AutoencoderKL.from_config(tiny_codec.codec_config("cascade"))
        stage_c = ControlledStableCascadeUNet(**tiny_stage_c_config(width, text_width, vae.config.latent_channels))
        config = tiny_clip_config(tokenizer, text_width, layers=2, heads=2, projection=text_width)
        text_encoder = CLIPTextModelWithProjection(config)
    return CascadeParts(
        stage_c=stage_c,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        codec=TinyCodec(vae),
        hint_init=None,
        hint_stages=hint_stages,
        hint_features=hint_features,
    )
