"""`CascadeControlNet`: Stability's ControlNet for stage C, reading our 5-channel hint (edges + RGBA strokes).

As Stability's ``modules/controlnet.py`` (bottleneck mode "effnet"): an EfficientNet feature extractor whose first
convolution takes the hint's channels, then one small projection per injection point (1x1 conv, LeakyReLU, 1x1 conv
to the stage C block's width), the last convolution of each zero-initialised. `forward` returns one entry per stage C
ResBlock visit (None where nothing is injected), which `ControlledStableCascadeUNet` adds before those blocks.
Because every projection ends in zeros, a fresh module leaves stage C's prediction exactly unchanged.

Differences from Stability's, each for a reason:

- The first convolution keeps the stem's padding (Stability's replacement drops it), so features stay aligned with
  the hint's pixels.
- Pretrained RGB filters go to the stroke colour channels (``rgb_channels``; ours are [canny, r, g, b, alpha]),
  the others start at zero: the strokes are the colour image, the edges and alpha mask are extra channels.
- `init_from_encoder` starts the feature extractor from Stable Cascade's EfficientNet encoder (already loaded for
  the latents) instead of torchvision's ImageNet download; both are EfficientNetV2-S image features.
- A pretrained feature extractor stays in eval mode while it trains (frozen BatchNorm statistics, no stochastic
  depth), as Stability's training script keeps it (``controlnet.backbone.eval().requires_grad_(True)``). A randomly
  initialised one (``frozen_norm=False``, the tiny preset) trains its BatchNorms normally: with the initial
  statistics (mean 0, variance 1) its features fade to ~1e-3 of their input's scale by the last stage, and the
  control starts out nearly silent.

A `ModelMixin` / `ConfigMixin`: ``save_pretrained`` writes ``config.json`` + safetensors and
``CascadeControlNet.from_pretrained`` reads them back.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn
from torch.utils.checkpoint import checkpoint

from backbones.efficientnet_encoder import V2_S_FEATURES, EfficientNetEncoder, efficientnet_features, features_stride


class CascadeControlNet(ModelMixin, ConfigMixin):
    """Hint -> EfficientNet features -> zero-initialised projections for chosen stage C ResBlocks."""

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(
        self,
        block_channels: Sequence[int] = (1536,) * 8,
        control_blocks: Sequence[int] = (0, 2, 4, 6, 25, 27, 29, 31),
        hint_channels: int = 5,
        rgb_channels: Sequence[int] = (1, 2, 3),
        stages: list | None = None,
        feature_channels: int = V2_S_FEATURES,
        frozen_norm: bool = True,
    ) -> None:
        super().__init__()
        if len(block_channels) != len(control_blocks):
            raise ValueError("block_channels needs one width per entry of control_blocks")
        if len(set(control_blocks)) != len(control_blocks) or min(control_blocks, default=0) < 0:
            raise ValueError(f"control_blocks must be distinct ResBlock indices >= 0, got {list(control_blocks)}")
        self.backbone = efficientnet_features(stages, feature_channels)
        stem = self.backbone[0][0]
        self.backbone[0][0] = nn.Conv2d(
            hint_channels,
            stem.out_channels,
            kernel_size=stem.kernel_size,
            stride=stem.stride,
            padding=stem.padding,
            bias=False,
        )
        self.projections = nn.ModuleList()
        for width in block_channels:
            projection = nn.Sequential(
                nn.Conv2d(feature_channels, feature_channels, kernel_size=1, bias=False),
                nn.LeakyReLU(0.2),
                nn.Conv2d(feature_channels, width, kernel_size=1, bias=False),
            )
            nn.init.zeros_(projection[-1].weight)
            self.projections.append(projection)
        self.gradient_checkpointing = False

    @property
    def stride(self) -> int:
        """Hint side / feature side (32 for EfficientNetV2-S)."""
        return features_stride(self.config.stages)

    @torch.no_grad()
    def init_from_encoder(self, encoder: EfficientNetEncoder) -> None:
        """Copy the encoder's EfficientNet weights; its RGB stem filters go to ``rgb_channels``, other channels 0."""
        source = encoder.backbone.state_dict()
        target = self.backbone.state_dict()
        stem_key = "0.0.weight"
        for key, value in source.items():
            if key != stem_key:
                target[key].copy_(value.to(target[key].dtype))
        stem = target[stem_key]
        stem.zero_()
        rgb = source[stem_key].to(stem.dtype)
        for i, channel in enumerate(self.config.rgb_channels):
            stem[:, channel] = rgb[:, i]

    def train(self, mode: bool = True) -> CascadeControlNet:
        """Train everything; with ``frozen_norm`` the feature extractor keeps eval-mode BatchNorm (Stability's)."""
        super().train(mode)
        if self.config.frozen_norm:
            self.backbone.eval()
        return self

    def _features(self, hint: torch.Tensor) -> torch.Tensor:
        x = hint
        for stage in self.backbone:
            if self.gradient_checkpointing and torch.is_grad_enabled():
                x = checkpoint(stage, x, use_reentrant=False)
            else:
                x = stage(x)
        return x

    def forward(self, hint: torch.Tensor) -> list[torch.Tensor | None]:
        """One entry per stage C ResBlock visit up to the last injected one: a ``B x width x h x w`` or None."""
        features = self._features(hint.to(self.dtype))
        outputs: list[torch.Tensor | None] = [None] * (max(self.config.control_blocks, default=-1) + 1)
        for index, projection in zip(self.config.control_blocks, self.projections, strict=True):
            outputs[index] = projection(features)
        return outputs
