"""`bench plan`: what a backbone costs to train, without downloading a single weight.

The model is built from its architecture configs on PyTorch's ``meta`` device (shapes, no storage), then one
training micro-batch runs forward + backward there:

- FLOPs per sample: ``torch.utils.flop_counter.FlopCounterMode`` over that forward + backward (matmuls and
  convolutions, the terms that dominate), divided by the batch size.
- A10 seconds per step: FLOPs per step / (A10 peak for the precision x ``budget.utilisation``).
- Peak memory per batch size: weights (frozen ones in their dtype) + trainable fp32 weights, gradients and Adam
  moments (8 bytes per parameter, or 2 with 8-bit Adam) + activations + a fixed allowance for the CUDA context
  and allocator slack. Activations are measured, not guessed: ``torch.autograd.graph.saved_tensors_hooks``
  sums the bytes of every tensor autograd keeps for the backward pass, at batch 1 and 2; the difference is the
  per-sample cost (what gradient checkpointing saves shows up here directly).

The tiny preset is measured for real on this machine instead (same numbers, plus seconds per step).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from backbones import create_backbone
from backbones.base import Backbone, Batch
from bench.budget import Pricing
from bench.config import RunConfig

#: CUDA context, cuBLAS/cuDNN workspaces and allocator fragmentation, bytes (a typical observed allowance)
OVERHEAD_BYTES = int(1.5 * 2**30)
A10_MEMORY_BYTES = 24 * 2**30
CAPTION = "a red circle over a blue square on a yellow background"


@dataclass
class Plan:
    """Cost figures of one backbone + preset."""

    backbone: str
    preset: str
    resolution: int
    parameters_total: int
    parameters_trainable: int
    flops_per_sample: float
    a10_seconds_per_step: float
    usd_per_1000_steps: float
    batch_size: int
    weights_bytes: int
    optimizer_bytes: int
    activation_bytes_per_sample: int
    activation_bytes_fixed: int
    measured_seconds_per_step: float | None = None

    def memory_bytes(self, batch: int) -> int:
        """Estimated peak training memory at ``batch`` images per micro-batch."""
        activations = self.activation_bytes_fixed + batch * self.activation_bytes_per_sample
        return OVERHEAD_BYTES + self.weights_bytes + self.optimizer_bytes + activations


def _dummy_batch(batch: int, resolution: int, device: torch.device) -> Batch:
    return Batch(
        pixels=torch.zeros(batch, 3, resolution, resolution, device=device),
        hint=torch.zeros(batch, 5, resolution, resolution, device=device),
        captions=[CAPTION] * batch,
        keys=[f"plan/{i}" for i in range(batch)],
    )


def _saved_bytes(backbone: Backbone, batch: Batch) -> tuple[int, float]:
    """Bytes autograd saves for backward over one forward, and FLOPs of forward + backward."""
    saved = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        saved += tensor.numel() * tensor.element_size()
        return tensor

    counter = FlopCounterMode(display=False)
    with counter:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss, _ = backbone.training_loss(batch)
        loss.backward()
    backbone.zero_grad(set_to_none=True)
    return saved, float(counter.get_total_flops())


def make_plan(cfg: RunConfig, measure: bool) -> Plan:
    """Build the plan: on the meta device (``measure=False``, nothing loaded) or for real (tiny presets)."""
    torch.manual_seed(cfg.seed)
    if measure:
        backbone = create_backbone(cfg.backbone, cfg.preset, cfg.data.resolution, cfg.model)
        device = torch.device("cpu")
    else:
        with torch.device("meta"):
            backbone = create_backbone(
                cfg.backbone, cfg.preset, cfg.data.resolution, {**cfg.model, "load_weights": False}
            )
        device = torch.device("meta")
    backbone.train()
    trainable = {id(p) for p in backbone.trainable_parameters()}
    weights = sum(p.numel() * p.element_size() for p in backbone.parameters() if id(p) not in trainable)
    n_trainable = sum(p.numel() for p in backbone.trainable_parameters())
    weights += n_trainable * 4
    per_param_optimizer = 4 + (2 if cfg.optim.use_8bit_adam else 8)  # gradient + Adam moments
    one, flops_one = _saved_bytes(backbone, _dummy_batch(1, cfg.data.resolution, device))
    two, flops_two = _saved_bytes(backbone, _dummy_batch(2, cfg.data.resolution, device))
    per_sample = max(0, two - one)
    flops_per_sample = max(flops_two - flops_one, flops_one / 2)
    step_flops = flops_per_sample * cfg.optim.effective_batch
    pricing = Pricing.of(cfg.budget, cfg.optim.mixed_precision)
    seconds = pricing.flop_seconds(step_flops)
    measured = None
    if measure:
        batch = _dummy_batch(cfg.data.batch_size, cfg.data.resolution, device)
        start = time.perf_counter()
        for _ in range(2):
            loss, _ = backbone.training_loss(batch)
            loss.backward()
        measured = (time.perf_counter() - start) / 2 * (cfg.optim.effective_batch / cfg.data.batch_size)
    return Plan(
        backbone=cfg.backbone,
        preset=cfg.preset,
        resolution=cfg.data.resolution,
        parameters_total=sum(p.numel() for p in backbone.parameters()),
        parameters_trainable=n_trainable,
        flops_per_sample=flops_per_sample,
        a10_seconds_per_step=seconds,
        usd_per_1000_steps=pricing.usd(seconds * 1000),
        batch_size=cfg.optim.effective_batch,
        weights_bytes=weights,
        optimizer_bytes=n_trainable * per_param_optimizer,
        activation_bytes_per_sample=per_sample,
        activation_bytes_fixed=max(0, one - per_sample),
        measured_seconds_per_step=measured,
    )


def format_plan(plan: Plan, batch_sizes: list[int]) -> list[str]:
    """Human-readable lines for the plan and a memory table (GiB, fits a 24 GB A10 or not)."""
    gib = 2**30
    lines = [
        f"backbone {plan.backbone} ({plan.preset}) at {plan.resolution} px",
        f"parameters: {plan.parameters_total / 1e6:,.1f} M total, {plan.parameters_trainable / 1e6:,.1f} M trainable",
        f"FLOPs per training sample (forward + backward): {plan.flops_per_sample / 1e9:,.2f} GFLOP",
        f"A10 seconds per optimizer step (effective batch {plan.batch_size}): {plan.a10_seconds_per_step:.4g} s",
        f"dollars per 1,000 steps at the A10 price: ${plan.usd_per_1000_steps:.4g}",
    ]
    if plan.measured_seconds_per_step is not None:
        lines.append(f"measured on this machine: {plan.measured_seconds_per_step:.3f} s per optimizer step")
    lines.append(
        f"memory = {OVERHEAD_BYTES / gib:.1f} GiB overhead + {plan.weights_bytes / gib:.2f} GiB weights + "
        f"{plan.optimizer_bytes / gib:.2f} GiB grads/Adam + activations "
        f"({plan.activation_bytes_fixed / gib:.2f} GiB + {plan.activation_bytes_per_sample / gib:.3f} GiB per image)"
    )
    lines.append("batch  est. peak memory  fits a 24 GB A10")
    for batch in batch_sizes:
        need = plan.memory_bytes(batch)
        lines.append(f"{batch:5d}  {need / gib:10.2f} GiB   {'yes' if need <= A10_MEMORY_BYTES else 'no'}")
    return lines


def plan_config(cfg: RunConfig, batch_size: int | None) -> RunConfig:
    """The config planned: one micro-batch of ``batch_size`` per step unless the run accumulates."""
    if batch_size is None:
        return cfg
    data = dataclasses.replace(cfg.data, batch_size=batch_size)
    return dataclasses.replace(cfg, data=data)


def describe(plan: Plan) -> dict[str, Any]:
    """The plan as a dict (for JSON output)."""
    return dataclasses.asdict(plan)
