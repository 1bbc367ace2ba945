"""Stage C's noise schedule, loss weighting and sampler, as Stability trained and sampled it (its ``gdf`` package).

Stage C is a continuous-time model: ``t`` in [0, 1] (1 = pure noise), a cosine schedule on the variance clamped to
[1e-4, 0.9999] (``CosineSchedule``), variance-preserving inputs ``x_t = a x_0 + b eps`` with ``a^2 = sigmoid(logSNR)``
(``VPScaler``), an epsilon target (``EpsilonTarget``), and the network sees ``t`` recovered from logSNR
(``CosineTNoiseCond``; equal to ``t`` away from the clamped ends). Training draws ``t`` as gdf does, and weights the
per-image MSE with P2 (``1 / (1 + SNR)``, what Stability's stage C ControlNet script uses) or with gdf's adaptive
weight (the inverse of a running mean loss per logSNR bucket, what ``adaptive_loss_weight: True`` selects).
Sampling is gdf's DDPM sampler (DDIM update with eta = 1) on ``steps`` equal steps of ``t`` from 1 to 0, the same
update diffusers' ``DDPMWuerstchenScheduler`` makes; the result is the last step's x_0 prediction, as Stability's.

A module only for the adaptive weight's buckets, a buffer that travels with ``.to(device)`` and is saved with the
control module so that a resumed run weights its losses exactly as an uninterrupted one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from backbones.prediction import epsilon_from
from backbones.timesteps import noise_fractions

#: gdf's cosine offset and variance clamp
COSINE_S = 0.008
VAR_RANGE = (1e-4, 0.9999)
LOSS_WEIGHTS = ("p2", "adaptive", "none")


def _min_var() -> float:
    return math.cos(COSINE_S / (1 + COSINE_S) * math.pi * 0.5) ** 2


def _raw_log_snr(t: torch.Tensor) -> torch.Tensor:
    var = torch.cos((t + COSINE_S) / (1 + COSINE_S) * math.pi * 0.5).clamp(0, 1) ** 2 / _min_var()
    var = var.clamp(*VAR_RANGE)
    return (var / (1 - var)).log()


#: logSNR at t = 1 and t = 0: gdf clamps every (shifted) logSNR into this range
LOG_SNR_RANGE = (float(_raw_log_snr(torch.tensor(1.0))), float(_raw_log_snr(torch.tensor(0.0))))


def log_snr(t: torch.Tensor, shift: float = 1.0) -> torch.Tensor:
    """logSNR of the cosine schedule at ``t`` in [0, 1]; ``shift`` > 1 moves every step towards noise (gdf)."""
    value = _raw_log_snr(t.float().clamp(0, 1))
    if shift != 1.0:
        value = value + 2 * math.log(1 / shift)
    return value.clamp(*LOG_SNR_RANGE)


def scalers(log_snr_value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, b) of ``x_t = a x_0 + b eps`` (variance preserving)."""
    a_squared = log_snr_value.sigmoid()
    return a_squared.sqrt(), (1 - a_squared).sqrt()


def noise_cond(log_snr_value: torch.Tensor) -> torch.Tensor:
    """The ``t`` stage C is conditioned on: the cosine schedule inverted at ``log_snr_value`` (CosineTNoiseCond)."""
    var = log_snr_value.sigmoid().clamp(0, 1)
    t = ((var * _min_var()) ** 0.5).acos() / (math.pi * 0.5) * (1 + COSINE_S) - COSINE_S
    return t.clamp(0, 1)


def sample_t(batch: int, device: torch.device | str, kind: str = "uniform") -> torch.Tensor:
    """Training timesteps in [0.001, 1] (1 = noisiest): uniform as gdf draws them, or ``kind`` of
    `backbones.timesteps` (e.g. cubic, biased to high noise)."""
    fractions = 1 - torch.rand(batch, device=device) if kind == "uniform" else noise_fractions(kind, batch, device)
    return fractions.add(0.001).clamp(0.001, 1.0)


def p2_weight(log_snr_value: torch.Tensor) -> torch.Tensor:
    """gdf's P2LossWeight with k = gamma = s = 1: ``1 / (1 + SNR)``."""
    return 1.0 / (1.0 + log_snr_value.exp())


class AdaptiveLossWeight(nn.Module):
    """gdf's AdaptiveLossWeight: 300 logSNR buckets in [-10, 10], weight = 1 / running mean loss of the bucket."""

    def __init__(self, buckets: int = 300, log_snr_range: tuple[float, float] = (-10.0, 10.0)) -> None:
        super().__init__()
        self.register_buffer("edges", torch.linspace(log_snr_range[0], log_snr_range[1], buckets - 1), persistent=False)
        self.register_buffer("bucket_losses", torch.ones(buckets))

    def forward(self, log_snr_value: torch.Tensor) -> torch.Tensor:
        index = torch.searchsorted(self.edges, log_snr_value.float().contiguous())
        return (1 / self.bucket_losses[index]).clamp(1e-7, 1e7)

    @torch.no_grad()
    def update(self, log_snr_value: torch.Tensor, losses: torch.Tensor, beta: float = 0.99) -> None:
        """Move each sampled bucket's running loss towards the batch's per-image loss (gdf's ``update_buckets``)."""
        index = torch.searchsorted(self.edges, log_snr_value.float().contiguous())
        self.bucket_losses[index] = self.bucket_losses[index] * beta + losses.detach().float() * (1 - beta)


def ddpm_step(
    x: torch.Tensor, eps: torch.Tensor, log_snr_now: torch.Tensor, log_snr_next: torch.Tensor, noise: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One DDPM step (gdf's DDIM update with eta = 1): returns (x at the next step, x_0 predicted now)."""
    a, b = scalers(log_snr_now)
    a_next, b_next = scalers(log_snr_next)
    x0 = (x - eps * b) / a
    sigma = (b_next**2 / b**2).sqrt() * (1 - a**2 / a_next**2).clamp_min(0).sqrt()
    return a_next * x0 + (b_next**2 - sigma**2).clamp_min(0).sqrt() * eps + sigma * noise, x0


def sample_ddpm(
    predict: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    steps: int,
    generator: torch.Generator,
    shift: float = 1.0,
    prediction: str = "epsilon",
) -> torch.Tensor:
    """x_0 from pure noise ``x`` after ``steps`` DDPM steps; ``predict(x_t, t_cond)`` is the (guided) model, whose
    output is epsilon or v as ``prediction`` says (`backbones.prediction`)."""
    grid = torch.linspace(1.0, 0.0, steps + 1)
    log_snrs = log_snr(grid, shift).to(x.device)
    x0 = x
    for i in range(steps):
        cond = noise_cond(log_snrs[i]).expand(x.shape[0])
        a, b = scalers(log_snrs[i])
        eps = epsilon_from(predict(x, cond).float(), x, a, b, prediction)
        noise = torch.randn(x.shape, generator=generator, device=generator.device).to(x.device)
        x, x0 = ddpm_step(x, eps, log_snrs[i], log_snrs[i + 1], noise)
    return x0


def guide(cond: torch.Tensor, uncond: torch.Tensor, scale: float, rho: float) -> torch.Tensor:
    """Classifier-free guidance as gdf: ``lerp(uncond, cond, scale)``, its std rescaled towards cond's by ``rho``.

    The rescale (gdf's ``cfg_rho``, 0.7 by default in Stability's sampling) is per image here, so one image's
    guidance does not depend on the rest of the batch.
    """
    guided = torch.lerp(uncond, cond, scale)
    if rho <= 0:
        return guided
    dims = tuple(range(1, cond.dim()))
    ratio = cond.std(dim=dims, keepdim=True) / (guided.std(dim=dims, keepdim=True) + 1e-9)
    return rho * guided * ratio + (1 - rho) * guided
