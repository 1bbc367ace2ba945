"""Tiny latent codecs for the tiny presets: small diffusers `AutoencoderKL`s trained on ``builtin:shapes``.

Why: a latent backbone's tiny preset must train on 2 CPU cores with no download, yet its samples must be
recognisable images, so its codec cannot be random. The project trains its own (`bench codec fit`) and ships
the weights as small safetensors files next to this module:

- ``sd``: 64 px RGB -> 4 x 16 x 16 latent (f=4), standing in for SD 1.5's f=8 VAE.
- ``cascade``: 64 px RGB -> 16 x 4 x 4 latent (f=16), standing in for Stable Cascade's EfficientNet encoder +
  stages B/A. What matters is the ratio: its latent has 16x fewer positions than sd's at the same image size,
  as stage C's 12 x 12 has far fewer than SD's 64 x 64 at 512 px.

Each codec is ``weights/<name>_tiny_vae.safetensors`` (state dict) + ``weights/<name>_tiny_vae.json``::

    {"codec": NAME, "config": {AutoencoderKL init kwargs, scaling_factor included}, "fit": {steps, psnr_db, ...}}

``config.scaling_factor`` is measured on training images so that ``latent_dist.sample() * scaling_factor`` has
unit standard deviation, as SD's 0.18215 does for its VAE. Pixels are in [-1, 1] on both sides of the codec.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench.core.errors import UserError

#: where the shipped codecs live (package data)
WEIGHTS_DIR = Path(__file__).parent / "weights"


@dataclass(frozen=True)
class CodecSpec:
    """One codec: its architecture and the training recipe `bench codec fit` uses by default."""

    name: str
    #: widths of the encoder's levels (the decoder mirrors them); the image shrinks 2x per level after the first
    block_out_channels: tuple[int, ...]
    latent_channels: int
    #: image side in pixels the codec is trained at
    resolution: int = 64
    norm_num_groups: int = 8
    #: default training steps, batch size and peak learning rate of `bench codec fit`
    steps: int = 2000
    batch_size: int = 8
    lr: float = 2e-3
    #: weight of the KL term (mean nats per latent element) against the pixel MSE (mean over [-1, 1] pixels)
    kl_weight: float = 1e-5
    #: weight of a mean absolute error term: it keeps pulling on small errors (edges, outlines) once MSE is low
    l1_weight: float = 0.5

    @property
    def factor(self) -> int:
        """Downsampling factor: image side / latent side."""
        return 2 ** (len(self.block_out_channels) - 1)

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """``C x H x W`` of one image's latent at the codec's resolution."""
        side = self.resolution // self.factor
        return (self.latent_channels, side, side)


CODECS: dict[str, CodecSpec] = {
    "sd": CodecSpec("sd", block_out_channels=(16, 32, 64), latent_channels=4, steps=4000),
    # one GroupNorm group: with 8, per-pair normalisation over the whole image lost colours (results/NOTES.md)
    "cascade": CodecSpec(
        "cascade",
        block_out_channels=(16, 32, 64, 64, 128),
        latent_channels=16,
        norm_num_groups=1,
        lr=5e-4,
        l1_weight=0.0,
    ),
}


def codec_names() -> list[str]:
    """The codec names, sorted."""
    return sorted(CODECS)


def codec_spec(name: str) -> CodecSpec:
    """The spec of codec ``name``; an unknown name is a `UserError` listing the valid ones."""
    if name not in CODECS:
        raise UserError(f"unknown codec '{name}' (valid: {', '.join(codec_names())})")
    return CODECS[name]


def weight_paths(name: str, weights_dir: Path | str | None = None) -> tuple[Path, Path]:
    """(safetensors, json) paths of codec ``name`` in ``weights_dir`` (default: the package's shipped weights)."""
    folder = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
    return folder / f"{name}_tiny_vae.safetensors", folder / f"{name}_tiny_vae.json"


def architecture_config(spec: CodecSpec, scaling_factor: float = 1.0) -> dict[str, Any]:
    """`AutoencoderKL` init kwargs for ``spec`` (no attention in the mid block: it buys nothing at this size)."""
    levels = len(spec.block_out_channels)
    return {
        "in_channels": 3,
        "out_channels": 3,
        "down_block_types": ["DownEncoderBlock2D"] * levels,
        "up_block_types": ["UpDecoderBlock2D"] * levels,
        "block_out_channels": list(spec.block_out_channels),
        "layers_per_block": 1,
        "act_fn": "silu",
        "latent_channels": spec.latent_channels,
        "norm_num_groups": spec.norm_num_groups,
        "sample_size": spec.resolution,
        "scaling_factor": float(scaling_factor),
        "mid_block_add_attention": False,
    }


def read_codec_info(name: str, weights_dir: Path | str | None = None) -> dict[str, Any]:
    """The json of codec ``name`` (config + fit record); a missing file says which command makes it."""
    spec = codec_spec(name)
    weights, info_path = weight_paths(spec.name, weights_dir)
    missing = [p for p in (weights, info_path) if not p.is_file()]
    if missing:
        raise UserError(
            f"the tiny '{name}' codec is missing ({missing[0]}); train it with `bench codec fit --codec {name}`"
            + (f" --out {weights.parent}" if weights_dir is not None else "")
        )
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
        info["config"]["scaling_factor"]  # noqa: B018 - presence check
    except (ValueError, KeyError, TypeError):
        raise UserError(
            f"{info_path} is not a codec description; retrain it with `bench codec fit --codec {name}`"
        ) from None
    return info


def codec_config(name: str, weights_dir: Path | str | None = None) -> dict[str, Any]:
    """`AutoencoderKL` config of codec ``name``, with the shipped scaling factor when the shipped json exists.

    Reads no weights, so backbones can build the codec with random weights (``AutoencoderKL.from_config``),
    e.g. on the meta device for `bench plan`.
    """
    spec = codec_spec(name)
    _, info_path = weight_paths(name, weights_dir)
    scaling = 1.0
    if info_path.is_file():
        try:
            scaling = float(json.loads(info_path.read_text(encoding="utf-8"))["config"]["scaling_factor"])
        except (ValueError, KeyError, TypeError):
            pass
    return architecture_config(spec, scaling)


def build_codec(name: str, scaling_factor: float = 1.0) -> Any:
    """A randomly initialised `AutoencoderKL` of codec ``name`` (for training and for tests)."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(**architecture_config(codec_spec(name), scaling_factor))


def load_codec(name: str, weights_dir: Path | str | None = None) -> Any:
    """The trained codec ``name``: frozen (no gradients), eval mode, float32, on the CPU.

    ``weights_dir`` defaults to the weights shipped with the package. Only safetensors is read.
    """
    from diffusers import AutoencoderKL
    from safetensors.torch import load_file

    info = read_codec_info(name, weights_dir)
    weights, _ = weight_paths(name, weights_dir)
    # the spec is the architecture; the json contributes the measured scaling factor
    architecture = architecture_config(codec_spec(name), float(info["config"]["scaling_factor"]))
    # a setting that shapes no tensor (GroupNorm's group count) would load silently into the wrong architecture
    expected = json.loads(json.dumps(architecture))  # as the json holds it (tuples become lists)
    changed = sorted(k for k, v in expected.items() if k in info["config"] and info["config"][k] != v)
    if changed:
        raise UserError(
            f"{weights} was fitted with another '{name}' codec architecture ({', '.join(changed)} not as in "
            f"backbones/tiny_codec.py); retrain it with `bench codec fit --codec {name}`"
        )
    vae = AutoencoderKL(**architecture)
    try:
        vae.load_state_dict(load_file(weights), strict=True)
    except (RuntimeError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"{weights} does not match the '{name}' codec ({first}); retrain it with `bench codec fit --codec {name}`"
        ) from None
    vae.requires_grad_(False)
    return vae.eval()


def save_codec(vae: Any, name: str, out_dir: Path | str | None, fit: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``vae`` as codec ``name`` into ``out_dir`` (default: the package's weights), each file atomically.

    The weights go first and the json last, so a json always describes complete weights.
    """
    from safetensors.torch import save as save_safetensors

    from bench.core.atomic import write_bytes, write_text

    weights, info_path = weight_paths(name, out_dir)
    state = {key: value.detach().cpu().contiguous() for key, value in vae.state_dict().items()}
    write_bytes(weights, save_safetensors(state, metadata={"codec": name, "format": "pt"}))
    config = {**architecture_config(codec_spec(name)), "scaling_factor": float(vae.config.scaling_factor)}
    info = {"codec": name, "config": config, "fit": fit}
    write_text(info_path, json.dumps(info, indent=2) + "\n")
    return weights, info_path


@torch.no_grad()
def encode_mode(vae: Any, pixels: torch.Tensor) -> torch.Tensor:
    """Deterministic latents (the posterior's mean), unscaled; ``pixels`` in [-1, 1], ``B x 3 x H x W``."""
    return vae.encode(pixels).latent_dist.mode()


@torch.no_grad()
def reconstruction_psnr(vae: Any, pixels: torch.Tensor, batch_size: int = 32) -> float:
    """Mean per-image PSNR in dB of encode (mode) -> decode, on [0, 1] pixels; ``pixels`` in [-1, 1]."""
    scores = []
    for start in range(0, pixels.shape[0], batch_size):
        chunk = pixels[start : start + batch_size]
        decoded = vae.decode(encode_mode(vae, chunk)).sample
        target = (chunk + 1) / 2
        recon = ((decoded + 1) / 2).clamp(0, 1)
        mse = ((recon - target) ** 2).flatten(1).mean(1).clamp_min(1e-10)
        scores.append(10 * torch.log10(1.0 / mse))
    return float(torch.cat(scores).mean())
