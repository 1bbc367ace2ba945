"""The run's optimizer."""

from __future__ import annotations

import torch

from bench.config import RunConfig
from bench.core.errors import UserError


def build_optimizer(cfg: RunConfig, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The run's AdamW. The fused kernel where torch has one for the parameters' device (CPU and CUDA): it
    updates every tensor in one pass instead of a Python loop of small ops per tensor (results/NOTES.md: fused
    AdamW). bitsandbytes' 8-bit AdamW when asked."""
    if cfg.optim.use_8bit_adam:
        try:
            import bitsandbytes as bnb
        except ImportError:
            raise UserError("optim.use_8bit_adam needs bitsandbytes (pip install bitsandbytes) and a GPU") from None
        return bnb.optim.AdamW8bit(params, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    fused = all(p.device.type in ("cpu", "cuda") and p.dtype.is_floating_point for p in params)
    return torch.optim.AdamW(params, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay, fused=fused or None)
