"""`IFControlNet`: a ControlNet for DeepFloyd IF's stage I UNet, which diffusers' `ControlNetModel` cannot copy.

Why our own: `ControlNetModel.from_unet` only knows SD's block types; IF's UNet uses
`ResnetDownsampleBlock2D` / `SimpleCrossAttnDownBlock2D`, a `UNetMidBlock2DSimpleCrossAttn`, a T5 projection
(``encoder_hid_proj``) and an attention-pooled text embedding added to the time embedding. This module does what
ControlNet does for SD, for exactly that architecture:

- a trainable copy of the encoder half of the UNet (time and text embeddings, ``conv_in``, every down block and
  the mid block), built by diffusers' own constructors from the UNet's config and initialised from its weights;
- a hint encoder (diffusers' `ControlNetConditioningEmbedding`) from the hint resolution down to the UNet's
  64 px: one stride-2 stage per halving, its last convolution zero-initialised, added after ``conv_in``;
- zero-initialised 1x1 convolutions on every skip connection and on the mid block, whose outputs go to the
  UNet through its ``down_block_additional_residuals`` / ``mid_block_additional_residual`` arguments.

At initialisation every output is exactly zero, so the controlled UNet predicts what the UNet alone predicts.
It is a `ModelMixin` / `ConfigMixin`: ``save_pretrained`` writes ``config.json`` + safetensors and
``IFControlNet.from_pretrained`` reads them back, like any diffusers model.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention import AttentionMixin
from diffusers.models.controlnets.controlnet import ControlNetConditioningEmbedding
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

#: UNet features this module reproduces; anything else in a UNet config is refused rather than silently ignored
_SUPPORTED = {
    "class_embed_type": (None,),
    "addition_embed_type": (None, "text"),
    "encoder_hid_dim_type": (None, "text_proj"),
    "time_embedding_type": ("positional",),
    "time_cond_proj_dim": (None,),
}


def hint_stages(hint_size: int, sample_size: int) -> int:
    """Stride-2 stages from a ``hint_size`` hint to the UNet's ``sample_size`` (a power-of-two ratio)."""
    ratio = hint_size / sample_size
    stages = round(math.log2(ratio)) if ratio >= 1 else -1
    if stages < 0 or sample_size * 2**stages != hint_size:
        raise ValueError(f"hint size {hint_size} must be the UNet's {sample_size} px times a power of two")
    return stages


def residual_channels(unet_config: dict[str, Any]) -> list[int]:
    """Channels of each skip connection the UNet's down path emits, in order (conv_in, resnets, downsamplers)."""
    blocks = list(unet_config["block_out_channels"])
    layers = unet_config["layers_per_block"]
    layers = [layers] * len(blocks) if isinstance(layers, int) else list(layers)
    channels = [blocks[0]]
    for i, width in enumerate(blocks):
        channels += [width] * layers[i]
        if i < len(blocks) - 1:
            channels.append(width)
    return channels


class IFControlNet(ModelMixin, AttentionMixin, ConfigMixin):
    """Encoder copy of an IF UNet + hint encoder + zero convolutions; returns the residuals the UNet adds."""

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(
        self,
        unet_config: dict[str, Any],
        hint_channels: int = 5,
        hint_size: int = 64,
        hint_embedding_channels: tuple[int, ...] = (16,),
    ) -> None:
        super().__init__()
        from diffusers import UNet2DConditionModel

        unet_config = {k: v for k, v in dict(unet_config).items() if not k.startswith("_")}
        for key, allowed in _SUPPORTED.items():
            if unet_config.get(key) not in allowed:
                raise ValueError(f"IFControlNet does not support a UNet with {key}={unet_config.get(key)!r}")
        stages = hint_stages(hint_size, unet_config["sample_size"])
        if len(hint_embedding_channels) != stages + 1:
            raise ValueError(
                f"hint_embedding_channels needs {stages + 1} entries for a {hint_size} px hint, "
                f"got {len(hint_embedding_channels)}"
            )
        # Build the UNet with diffusers' own constructor and keep its encoder half: identical modules and
        # parameter names (so `from_unet` copies weights by name), no re-implemented block wiring.
        donor = UNet2DConditionModel(**unet_config)
        self.conv_in = donor.conv_in
        self.time_proj = donor.time_proj
        self.time_embedding = donor.time_embedding
        self.encoder_hid_proj = donor.encoder_hid_proj
        self.add_embedding = getattr(donor, "add_embedding", None)
        self.time_embed_act = donor.time_embed_act
        self.down_blocks = donor.down_blocks
        self.mid_block = donor.mid_block
        del donor
        self.hint_embedding = ControlNetConditioningEmbedding(
            conditioning_embedding_channels=unet_config["block_out_channels"][0],
            conditioning_channels=hint_channels,
            block_out_channels=tuple(hint_embedding_channels),
        )
        self.controlnet_down_blocks = nn.ModuleList(
            [_zero_conv(c) for c in residual_channels(unet_config)]  # one per skip connection
        )
        self.controlnet_mid_block = _zero_conv(unet_config["block_out_channels"][-1])

    @classmethod
    def from_unet(
        cls,
        unet: Any,
        *,
        hint_channels: int = 5,
        hint_size: int = 64,
        hint_embedding_channels: tuple[int, ...] = (16,),
        zero_hint_output: bool = False,
    ) -> IFControlNet:
        """A control module whose encoder copy starts from ``unet``'s weights (hint encoder random, outputs zero).

        ``zero_hint_output=False`` re-initialises the hint encoder's last convolution (diffusers zero-initialises
        it): the zero 1x1 outputs alone already keep the UNet's prediction unchanged at initialisation, and with a
        live hint path their very first gradients depend on the hint; behind two zero layers the hint's
        gradients start at second order, and a short run barely learns to use the hint.
        """
        control = cls(
            unet_config=dict(unet.config),
            hint_channels=hint_channels,
            hint_size=hint_size,
            hint_embedding_channels=tuple(hint_embedding_channels),
        )
        if not zero_hint_output:
            control.hint_embedding.conv_out.reset_parameters()
        own = control.state_dict()
        copied = {k: v for k, v in unet.state_dict().items() if k in own}
        missing, _ = control.load_state_dict(copied, strict=False)
        unexpected_missing = [k for k in missing if not k.startswith(("hint_embedding.", "controlnet_"))]
        if unexpected_missing:
            raise ValueError(f"the UNet lacks weights the control module copies: {unexpected_missing[:3]}")
        return control

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | int,
        encoder_hidden_states: torch.Tensor,
        hint: torch.Tensor,
        conditioning_scale: float = 1.0,
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Residuals for the UNet: one per skip connection, and one for the mid block (scaled).

        ``sample``: noisy images ``B x 3 x 64 x 64``; ``encoder_hidden_states``: T5 states ``B x 77 x D`` (before
        the UNet's projection, as the UNet itself receives them); ``hint``: ``B x 5 x hint_size x hint_size``.
        """
        timesteps = torch.as_tensor(timestep, device=sample.device)
        if timesteps.ndim == 0:
            timesteps = timesteps[None]
        timesteps = timesteps.expand(sample.shape[0])
        emb = self.time_embedding(self.time_proj(timesteps).to(dtype=sample.dtype))
        if self.add_embedding is not None:
            emb = emb + self.add_embedding(encoder_hidden_states)
        if self.time_embed_act is not None:
            emb = self.time_embed_act(emb)
        if self.encoder_hid_proj is not None:
            encoder_hidden_states = self.encoder_hid_proj(encoder_hidden_states)

        sample = self.conv_in(sample) + self.hint_embedding(hint.to(sample.dtype))
        residuals: tuple[torch.Tensor, ...] = (sample,)
        for block in self.down_blocks:
            if getattr(block, "has_cross_attention", False):
                sample, states = block(hidden_states=sample, temb=emb, encoder_hidden_states=encoder_hidden_states)
            else:
                sample, states = block(hidden_states=sample, temb=emb)
            residuals += states
        sample = self.mid_block(sample, emb, encoder_hidden_states=encoder_hidden_states)

        down = [conv(r) * conditioning_scale for conv, r in zip(self.controlnet_down_blocks, residuals, strict=True)]
        return down, self.controlnet_mid_block(sample) * conditioning_scale


def _zero_conv(channels: int) -> nn.Conv2d:
    conv = nn.Conv2d(channels, channels, kernel_size=1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv
