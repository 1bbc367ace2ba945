"""Stable Cascade's EfficientNetV2-S encoder: the image -> 16-channel stage C latent that stage C learns to generate.

Why our own module: the encoder is not in diffusers. It is torchvision's ``efficientnet_v2_s().features`` followed by
a 1x1 convolution to 16 channels and an affine-free BatchNorm (so the latent has zero mean, unit variance per
channel), exactly as Stability's ``modules/effnet.py``; the attribute names (``backbone``, ``mapper``) match the keys
of Stability's published ``effnet_encoder.safetensors``, so that file loads with a strict ``load_state_dict``.

Units: `encode` takes pixels in [-1, 1] and returns ``B x 16 x H/32 x W/32``; ``forward`` takes what Stability's
code feeds it (ImageNet-normalised [0, 1] images). The architecture is a setting (``stages``): None is EfficientNetV2-S;
a short list builds the same classes small, for tests that exercise the real loading path without a download.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from bench.core.errors import UserError

#: ImageNet statistics the encoder was trained with (Stability's ``effnet_preprocess``)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: EfficientNetV2-S (torchvision's table): [block, expand ratio, kernel, stride, in channels, out channels, layers]
V2_S_STAGES: tuple[tuple[Any, ...], ...] = (
    ("fused", 1, 3, 1, 24, 24, 2),
    ("fused", 4, 3, 2, 24, 48, 4),
    ("fused", 4, 3, 2, 48, 64, 4),
    ("mb", 4, 3, 2, 64, 128, 6),
    ("mb", 6, 3, 1, 128, 160, 9),
    ("mb", 6, 3, 2, 160, 256, 15),
)
V2_S_FEATURES = 1280
#: the same blocks at small widths, stride 16: the tiny preset's hint encoder, and a stand-in for tests of the
#: full preset's loading path
TINY_STAGES: tuple[tuple[Any, ...], ...] = (
    ("fused", 1, 3, 1, 8, 8, 1),
    ("fused", 4, 3, 2, 8, 16, 1),
    ("fused", 4, 3, 2, 16, 24, 1),
    ("mb", 4, 3, 2, 24, 32, 1),
)
TINY_FEATURES = 64
#: architectures by name: (stages, feature channels); stages None is EfficientNetV2-S
ARCHITECTURES: dict[str, tuple[list | None, int]] = {
    "efficientnet_v2_s": (None, V2_S_FEATURES),
    "tiny": ([list(row) for row in TINY_STAGES], TINY_FEATURES),
}


def architecture(name: str) -> tuple[list | None, int]:
    """(stages, feature channels) of architecture ``name``; an unknown name is a `UserError` listing the valid."""
    if name not in ARCHITECTURES:
        raise UserError(f"unknown EfficientNet architecture '{name}' (valid: {', '.join(sorted(ARCHITECTURES))})")
    return ARCHITECTURES[name]


def efficientnet_features(stages: list | tuple | None, feature_channels: int) -> nn.Sequential:
    """torchvision's EfficientNet ``features`` for ``stages`` (None: EfficientNetV2-S), with V2's BatchNorm eps.

    Built from torchvision's own classes, never with downloaded weights; the layout (and so the state-dict keys)
    is torchvision's: ``0`` the stem convolution, ``1..n`` the stages, ``n+1`` the 1x1 head to ``feature_channels``.
    """
    from torchvision.models.efficientnet import EfficientNet, FusedMBConvConfig, MBConvConfig

    rows = V2_S_STAGES if stages is None else stages
    settings = []
    for kind, expand, kernel, stride, cin, cout, layers in rows:
        if kind not in ("fused", "mb"):
            raise ValueError(f"EfficientNet stage kind must be 'fused' or 'mb', got {kind!r}")
        config = FusedMBConvConfig if kind == "fused" else MBConvConfig
        settings.append(config(expand, kernel, stride, cin, cout, layers))
    norm = functools.partial(nn.BatchNorm2d, eps=1e-3)
    net = EfficientNet(settings, dropout=0.0, norm_layer=norm, last_channel=feature_channels, num_classes=1)
    return net.features


def features_stride(stages: list | tuple | None) -> int:
    """Downsampling of `efficientnet_features`: the stem's 2 times each stride-2 stage (32 for EfficientNetV2-S)."""
    rows = V2_S_STAGES if stages is None else stages
    stride = 2
    for row in rows:
        stride *= int(row[3])
    return stride


class EfficientNetEncoder(ModelMixin, ConfigMixin):
    """EfficientNet features -> 1x1 conv -> affine-free BatchNorm: Stable Cascade's stage C latent encoder."""

    @register_to_config
    def __init__(
        self,
        latent_channels: int = 16,
        stages: list | None = None,
        feature_channels: int = V2_S_FEATURES,
    ) -> None:
        super().__init__()
        self.backbone = efficientnet_features(stages, feature_channels)
        self.mapper = nn.Sequential(
            nn.Conv2d(feature_channels, latent_channels, kernel_size=1, bias=False),
            nn.BatchNorm2d(latent_channels, affine=False),
        )

    @property
    def stride(self) -> int:
        """Image side / latent side (32 for EfficientNetV2-S)."""
        return features_stride(self.config.stages)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Latents of ImageNet-normalised images (what Stability's code passes)."""
        return self.mapper(self.backbone(images))

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """Latents ``B x 16 x H/stride x W/stride`` of ``pixels`` in [-1, 1]."""
        mean = torch.tensor(IMAGENET_MEAN, device=pixels.device, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=pixels.device, dtype=torch.float32).view(1, 3, 1, 1)
        images = ((pixels.float() + 1) / 2 - mean) / std
        return self(images.to(self.dtype))


class _HubFile:
    """One file of a Hub repository, shaped like a ``from_pretrained`` class so `hub.load_pretrained` reports misses."""

    @staticmethod
    def from_pretrained(source: str, *, filename: str, local_files_only: bool = False, **_: Any) -> Path:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(source, filename, local_files_only=local_files_only))


def encoder_file(source: str, filename: str, what: str) -> Path:
    """The path of ``filename`` in ``source`` (a local file, a local folder, or a hub id, cached or fetched)."""
    from backbones import hub

    local = Path(source).expanduser()
    if local.is_file():
        return local
    if local.is_dir():
        path = local / filename
        if not path.is_file():
            raise UserError(f"{what}: {path} does not exist; put Stability's {filename} there or pass its path")
        return path
    return hub.load_pretrained(_HubFile, source, what=what, filename=filename)


def load_stability_encoder(
    source: str,
    filename: str = "effnet_encoder.safetensors",
    *,
    arch: str = "efficientnet_v2_s",
    what: str | None = None,
) -> EfficientNetEncoder:
    """An `EfficientNetEncoder` with Stability's published weights (``stabilityai/stable-cascade``'s encoder file).

    ``arch`` names the architecture (`ARCHITECTURES`; the published one is EfficientNetV2-S). Only safetensors is
    read; a file whose tensors do not fit the architecture is refused in one sentence, never half-loaded. The
    encoder comes back frozen, in eval mode.
    """
    from safetensors.torch import load_file

    what = what or f"Stable Cascade's EfficientNet encoder ({source})"
    path = encoder_file(source, filename, what)
    if path.suffix != ".safetensors":
        raise UserError(f"{what}: {path} is not a .safetensors file; only safetensors weights are loaded")
    stages, features = architecture(arch)
    encoder = EfficientNetEncoder(stages=stages, feature_channels=features)
    state = load_file(str(path))
    try:
        missing, unexpected = encoder.load_state_dict(state, strict=False)
        problem = f"{len(missing)} missing, {len(unexpected)} unexpected tensors" if missing or unexpected else ""
    except RuntimeError:  # tensors of other shapes
        problem = "tensors of other shapes"
    if problem:
        raise UserError(
            f"{what}: {path} does not fit the {arch} encoder ({problem}); is it Stability's effnet_encoder.safetensors?"
        )
    encoder.requires_grad_(False)
    return encoder.eval()


def save_stability_encoder(encoder: EfficientNetEncoder, path: Path) -> None:
    """Write ``encoder`` in the published layout (one flat safetensors file), e.g. a tiny copy for tests."""
    from safetensors.torch import save

    from bench.core.atomic import write_bytes

    state = {key: value.detach().cpu().contiguous() for key, value in encoder.state_dict().items()}
    write_bytes(path, save(state, metadata={"format": "pt"}))
