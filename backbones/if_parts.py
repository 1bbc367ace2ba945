"""The parts of the `if` backbone for a preset: DeepFloyd IF from the Hub (full) or the same classes small (tiny).

Why separate from `deepfloyd_if`: what the backbone *does* (noise, predict, sample) is the same for both presets;
only where the parts come from differs.

- ``full``: stage I's UNet and DDPM schedule from ``DeepFloyd/IF-I-M-v1.0`` (L, XL: another ``pretrained``),
  loaded through `backbones.hub` with ``gated=True``: the repositories need their license accepted, and a
  missing or refused download says so in one sentence. T5-XXL comes from the same repository's
  ``text_encoder`` / ``tokenizer`` and is built only when a caption misses the embedding cache, at most once. For
  `bench plan` (``load_weights=False``) the UNet is built from its architecture config (the cached one, else the
  copy shipped in ``backbones/configs/if_i_*_unet.json``) and nothing is read or downloaded.
- ``tiny``: IF-I's UNet layout at width 10 on 64 px pixels (`tiny_unet_config` says what is kept and what is
  scaled down), and a 2-layer `T5EncoderModel` on the offline tiny tokenizer, both seeded so every process
  builds identical weights.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from backbones import hub
from backbones.if_text import T5Embedder, weights_fingerprint
from backbones.text_encoders import check_tokenizer, tiny_t5_config, tiny_tokenizer
from bench.core.errors import UserError

CONFIG_DIR = Path(__file__).parent / "configs"
#: T5-v1.1-XXL's hidden size: the width of IF's text conditioning
T5_XXL_WIDTH = 4096


@dataclass
class IFParts:
    """Stage I's UNet, its training schedule, and the text embedder (which holds no encoder until a miss)."""

    unet: Any
    noise_scheduler: Any
    embedder: T5Embedder | None
    #: hidden size of the text states the UNet expects (T5-XXL: 4096)
    text_width: int


def shipped(name: str) -> dict[str, Any]:
    """An architecture/schedule config shipped in ``backbones/configs``."""
    return json.loads((CONFIG_DIR / name).read_text())


def _fallback_unet_config(source: str) -> Path | None:
    match = re.search(r"IF-I-(M|L|XL)-v1\.0", source)
    return CONFIG_DIR / f"if_i_{match.group(1).lower()}_unet.json" if match else None


def _what(source: str) -> str:
    return f"DeepFloyd IF stage I ({source})"


def full_parts(
    source: str, text_source: str, weight_dtype: torch.dtype, variant: str, load_weights: bool, cache_dir: Path
) -> IFParts:
    """IF stage I from ``source`` (hub id or folder); T5 from ``text_source`` (loaded lazily, on a cache miss)."""
    from diffusers import DDPMScheduler, UNet2DConditionModel

    if not load_weights:
        config = hub.load_config(UNet2DConditionModel, source, subfolder="unet", fallback=_fallback_unet_config(source))
        unet = UNet2DConditionModel.from_config(config)
        return IFParts(unet, DDPMScheduler.from_config(shipped("if_scheduler.json")), None, T5_XXL_WIDTH)
    what = _what(source)
    options: dict[str, Any] = {"use_safetensors": True, "torch_dtype": weight_dtype}
    if variant:
        options["variant"] = variant
    unet = hub.load_pretrained(UNet2DConditionModel, source, subfolder="unet", what=what, gated=True, **options)
    scheduler = hub.load_pretrained(DDPMScheduler, source, subfolder="scheduler", what=what, gated=True)
    dtype_name = str(weight_dtype).removeprefix("torch.")
    embedder = T5Embedder(
        encoder_id=f"t5:{_source_id(text_source)}:text_encoder:{variant or 'default'}:{dtype_name}:77",
        width=T5_XXL_WIDTH,
        build=lambda: _load_t5(text_source, weight_dtype, variant),
        cache_dir=cache_dir,
        device="cuda" if torch.cuda.is_available() else "cpu",
    )
    return IFParts(unet, scheduler, embedder, int(unet.config.encoder_hid_dim or T5_XXL_WIDTH))


def _source_id(source: str) -> str:
    """A hub id as is; a local folder as its absolute path (two folders never share cache entries)."""
    path = Path(source).expanduser()
    return str(path.resolve()) if path.exists() else source


def _load_t5(source: str, dtype: torch.dtype, variant: str) -> tuple[Any, Any]:
    """IF's T5 tokenizer and encoder from ``source`` (gated: one-sentence errors when absent or refused)."""
    from transformers import AutoTokenizer, T5EncoderModel

    what = f"DeepFloyd IF's T5-XXL text encoder ({source})"
    try:
        tokenizer = hub.load_pretrained(AutoTokenizer, source, subfolder="tokenizer", what=what, gated=True)
    except (ImportError, ValueError) as exc:  # T5's tokenizer is a SentencePiece model
        if "sentencepiece" in str(exc).lower():
            raise UserError(
                f"{what}: its tokenizer needs the sentencepiece package: pip install sentencepiece"
            ) from None
        raise
    check_tokenizer(tokenizer, what, source)
    options: dict[str, Any] = {"use_safetensors": True, "torch_dtype": dtype}
    if variant:
        options["variant"] = variant
    model = hub.load_pretrained(T5EncoderModel, source, subfolder="text_encoder", what=what, gated=True, **options)
    return tokenizer, model


def tiny_unet_config(width: int, text_width: int) -> dict[str, Any]:
    """IF-I's UNet layout at a small width, priced like the tiny `sd` step.

    Kept from IF: four levels with channel multipliers (1, 2, 3, 4), ``ResnetDownsampleBlock2D`` at 64 px and
    ``SimpleCrossAttnDownBlock2D`` below, the simple cross-attention mid block, T5 projected to about 4 x the
    base width (IF: encoder_channels = 4 x model_channels; here rounded to a multiple of 32 for the
    cross-attention group norm's 32 groups), the attention-pooled text embedding, scale-shift norms, GELU, learned
    variance (6 output channels). Scaled down: one resnet per level (IF: 3), heads one base width wide (IF: 64),
    GroupNorm over pairs of channels, and attention at 16 and 8 px only (at 32 px too would make the tiny step far
    dearer). Width 10 prices a training sample like the tiny `sd`'s, so both get about as many steps per dollar
    (results/NOTES.md).
    """
    return {
        "sample_size": 64,
        "in_channels": 3,
        "out_channels": 6,
        "block_out_channels": [width, 2 * width, 3 * width, 4 * width],
        "down_block_types": [
            "ResnetDownsampleBlock2D",
            "ResnetDownsampleBlock2D",
            "SimpleCrossAttnDownBlock2D",
            "SimpleCrossAttnDownBlock2D",
        ],
        "up_block_types": [
            "SimpleCrossAttnUpBlock2D",
            "SimpleCrossAttnUpBlock2D",
            "ResnetUpsampleBlock2D",
            "ResnetUpsampleBlock2D",
        ],
        "mid_block_type": "UNetMidBlock2DSimpleCrossAttn",
        "layers_per_block": 1,
        "attention_head_dim": width,
        "cross_attention_dim": 32 * max(1, round(4 * width / 32)),
        "cross_attention_norm": "group_norm",
        "encoder_hid_dim": text_width,
        "encoder_hid_dim_type": "text_proj",
        "addition_embed_type": "text",
        "addition_embed_type_num_heads": 2,
        "act_fn": "gelu",
        "resnet_time_scale_shift": "scale_shift",
        "norm_num_groups": max(1, width // 2),
    }


def tiny_parts(width: int, text_width: int, seed: int, load_weights: bool, cache_dir: Path) -> IFParts:
    """IF's classes at small widths, seeded: a 4-level pixel UNet with learned variance and a 2-layer T5."""
    from diffusers import DDPMScheduler, UNet2DConditionModel
    from transformers import T5EncoderModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(**tiny_unet_config(width, text_width))
        embedder = None
        if load_weights:
            tokenizer = tiny_tokenizer(77)
            t5 = T5EncoderModel(tiny_t5_config(tokenizer, text_width, layers=2, heads=2)).eval()
            embedder = T5Embedder(
                encoder_id=f"tiny-t5:{weights_fingerprint(t5)}:77",
                width=text_width,
                build=lambda: (tokenizer, t5),
                cache_dir=cache_dir,
            )
    return IFParts(unet, DDPMScheduler.from_config(shipped("if_scheduler.json")), embedder, text_width)
