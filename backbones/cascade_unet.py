"""Stage C with a control input: diffusers' `StableCascadeUNet` plus additive control, as Stability's ControlNet.

diffusers' ``StableCascadeUNet.forward`` has no control argument. Stability's own stage C (``modules/stage_c.py``)
takes a list ``cnet`` with one entry per *ResBlock visit* in the order the network runs them (down path, then up
path): before ResBlock number ``i``, entry ``i`` (if not None) is resized bilinearly to the block's size and added
to its input. `ControlledStableCascadeUNet` is a subclass that does exactly that; everything else (conditioning,
blocks, output) is the parent's, and ``from_pretrained`` loads the published stage C weights unchanged, because the
subclass adds no parameters. With ``control=None`` it computes what `StableCascadeUNet` computes (the timestep
embedding is always computed in float32 and then cast to the weights' dtype, as Stability's code does under autocast).

`resblock_channels` lists the ResBlock visits of a config (so control projections get the right widths) and
`default_control_blocks` gives the injection points: Stability's list for the 3.6B model
(``[0, 4, 8, 12, 51, 55, 59, 63]``), and the same pattern for any other depth (the 1B "lite": ``[0, 2, 4, 6, 25,
27, 29, 31]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from diffusers import StableCascadeUNet
from diffusers.models.unets.unet_stable_cascade import (
    SDCascadeAttnBlock,
    SDCascadeResBlock,
    SDCascadeTimestepBlock,
    StableCascadeUNetOutput,
)
from torch import nn
from torch.nn import functional as F


def resblock_channels(config: Any) -> list[int]:
    """Width of the feature map at each ResBlock visit, in run order (down levels, then up levels)."""
    config = dict(config)
    widths = list(config["block_out_channels"])
    layers_down, layers_up = list(config["down_num_layers_per_block"]), list(config["up_num_layers_per_block"])
    repeat_down = list(config.get("down_blocks_repeat_mappers") or [1] * len(widths))
    repeat_up = list(config.get("up_blocks_repeat_mappers") or [1] * len(widths))
    types = [list(t) for t in config["block_types_per_layer"]]
    visits: list[int] = []
    for level, width in enumerate(widths):
        res_per_layer = types[level].count("SDCascadeResBlock")
        visits += [width] * (layers_down[level] * res_per_layer * repeat_down[level])
    for level in reversed(range(len(widths))):
        res_per_layer = types[level].count("SDCascadeResBlock")
        layers = layers_up[::-1][level]
        visits += [widths[level]] * (layers * res_per_layer * repeat_up[::-1][level])
    return visits


def default_control_blocks(config: Any) -> list[int]:
    """Stability's injection pattern, scaled to the model's depth.

    For the 3.6B stage C (8 + 24 down, 24 + 8 up ResBlocks) Stability's ControlNets use blocks 0, 4, 8, 12, 51, 55,
    59, 63: the first two (``step`` apart) of every down level and the last two of every up level, with ``step`` half
    the shortest level. The same rule gives the lite model's list and one for any tiny configuration.
    """
    config = dict(config)
    down, up = list(config["down_num_layers_per_block"]), list(config["up_num_layers_per_block"])
    step = max(1, min(down + up) // 2)
    chosen: list[int] = []
    start = 0
    for count in down:
        chosen += [start + offset for offset in (0, step) if offset < count]
        start += count
    for count in up:
        chosen += [start + offset for offset in (count - 1 - step, count - 1) if offset >= 0]
        start += count
    return sorted(set(chosen))


class ControlledStableCascadeUNet(StableCascadeUNet):
    """`StableCascadeUNet` whose ``forward`` also takes ``control``: tensors added before chosen ResBlocks."""

    def _run(self, block: nn.Module, *args: Any) -> torch.Tensor:
        if torch.is_grad_enabled() and self.gradient_checkpointing:
            return self._gradient_checkpointing_func(block, *args)
        return block(*args)

    @staticmethod
    def _add_control(x: torch.Tensor, control: list[torch.Tensor | None] | None, visit: int) -> torch.Tensor:
        if control is None or visit >= len(control) or control[visit] is None:
            return x
        extra = control[visit]
        if extra.shape[-2:] != x.shape[-2:]:
            extra = F.interpolate(extra.float(), size=x.shape[-2:], mode="bilinear", align_corners=True)
        return x + extra.to(x.dtype)

    def _conditioned(
        self, block: nn.Module, x: torch.Tensor, r_embed: torch.Tensor, clip: torch.Tensor
    ) -> torch.Tensor:
        if isinstance(block, SDCascadeAttnBlock):
            return self._run(block, x, clip)
        if isinstance(block, SDCascadeTimestepBlock):
            return self._run(block, x, r_embed)
        return self._run(block, x)

    def _down_encode_controlled(
        self, x: torch.Tensor, r_embed: torch.Tensor, clip: torch.Tensor, control: list | None
    ) -> tuple[list[torch.Tensor], int]:
        level_outputs: list[torch.Tensor] = []
        visit = 0
        for down_block, downscaler, repmap in zip(
            self.down_blocks, self.down_downscalers, self.down_repeat_mappers, strict=True
        ):
            x = downscaler(x)
            for i in range(len(repmap) + 1):
                for block in down_block:
                    if isinstance(block, SDCascadeResBlock):
                        x = self._run(block, self._add_control(x, control, visit))
                        visit += 1
                    else:
                        x = self._conditioned(block, x, r_embed, clip)
                if i < len(repmap):
                    x = repmap[i](x)
            level_outputs.insert(0, x)
        return level_outputs, visit

    def _up_decode_controlled(
        self,
        level_outputs: list[torch.Tensor],
        r_embed: torch.Tensor,
        clip: torch.Tensor,
        control: list | None,
        visit: int,
    ) -> torch.Tensor:
        x = level_outputs[0]
        levels = zip(self.up_blocks, self.up_upscalers, self.up_repeat_mappers, strict=True)
        for i, (up_block, upscaler, repmap) in enumerate(levels):
            for j in range(len(repmap) + 1):
                for k, block in enumerate(up_block):
                    if isinstance(block, SDCascadeResBlock):
                        skip = level_outputs[i] if k == 0 and i > 0 else None
                        if skip is not None and x.shape[-2:] != skip.shape[-2:]:
                            x = F.interpolate(x.float(), skip.shape[-2:], mode="bilinear", align_corners=True)
                            x = x.to(skip.dtype)
                        x = self._run(block, self._add_control(x, control, visit), skip)
                        visit += 1
                    else:
                        x = self._conditioned(block, x, r_embed, clip)
                if j < len(repmap):
                    x = repmap[j](x)
            x = upscaler(x)
        return x

    def forward(  # noqa: D417 - the parent documents the shared arguments
        self,
        sample: torch.Tensor,
        timestep_ratio: torch.Tensor,
        clip_text_pooled: torch.Tensor,
        clip_text: torch.Tensor | None = None,
        clip_img: torch.Tensor | None = None,
        effnet: torch.Tensor | None = None,
        pixels: torch.Tensor | None = None,
        sca: torch.Tensor | None = None,
        crp: torch.Tensor | None = None,
        return_dict: bool = True,
        control: Sequence[torch.Tensor | None] | None = None,
    ) -> StableCascadeUNetOutput | tuple[torch.Tensor]:
        """The parent's forward, plus ``control``: one entry (or None) per ResBlock visit, added before it."""
        control = list(control) if control is not None else None
        # sinusoids of t x 10,000 in float32 (bfloat16 cannot tell t = 0.500 from 0.501 there), then the weights' dtype
        timestep_ratio = timestep_ratio.float()
        r_embed = self.get_timestep_ratio_embedding(timestep_ratio)
        extra = {"sca": sca, "crp": crp}
        for name in self.config.timestep_conditioning_type:
            cond = extra.get(name)
            cond = cond.float() if cond is not None else torch.zeros_like(timestep_ratio)
            r_embed = torch.cat([r_embed, self.get_timestep_ratio_embedding(cond)], dim=1)
        r_embed = r_embed.to(self.dtype)
        clip = self.get_clip_embeddings(clip_txt_pooled=clip_text_pooled, clip_txt=clip_text, clip_img=clip_img)
        x = self.embedding(sample)
        if hasattr(self, "effnet_mapper") and effnet is not None:
            effnet = F.interpolate(effnet, size=x.shape[-2:], mode="bilinear", align_corners=True)
            x = x + self.effnet_mapper(effnet)
        if hasattr(self, "pixels_mapper"):
            pixels = pixels if pixels is not None else sample.new_zeros(sample.size(0), 3, 8, 8)
            x = x + F.interpolate(self.pixels_mapper(pixels), size=x.shape[-2:], mode="bilinear", align_corners=True)
        level_outputs, visit = self._down_encode_controlled(x, r_embed, clip, control)
        x = self._up_decode_controlled(level_outputs, r_embed, clip, control, visit)
        out = self.clf(x)
        return StableCascadeUNetOutput(sample=out) if return_dict else (out,)
