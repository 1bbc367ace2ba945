"""IF's DDPM with learned variance: the training term for the variance channels and the guided sampling loop.

DeepFloyd IF's UNets predict 6 channels: the noise (epsilon, channels 0-2) and ``v`` (channels 3-5), which sets
the reverse-step variance between the two DDPM bounds (Nichol & Dhariwal's "learned range")::

    log sigma_t^2 = (v + 1) / 2 * log beta_t + (1 - v) / 2 * log beta~_t

IF was trained as guided-diffusion trains such models: MSE on epsilon plus the variational bound term for ``v``
with the mean held fixed (so that term trains only the variance). `variance_term` is that term (KL in bits per
dimension, averaged), skipping t = 0 whose bound term is a decoder likelihood we do not need.

`denoise` is the sampler: a diffusers `DDPMScheduler` configured as IF's (``variance_type="learned_range"``,
dynamic thresholding) steps on the full 6-channel prediction, so the learned variance is used as IF uses it;
classifier-free guidance mixes the epsilon halves and keeps the conditional variance, as diffusers' `IFPipeline`
does. With ``variance="fixed_small"`` only epsilon is passed and the scheduler uses beta~_t (what diffusers
recommends after fine-tuning without the variance term).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch


def _gather(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.to(device=like.device, dtype=torch.float32)[t].view(-1, *([1] * (like.ndim - 1)))


def variance_term(
    alphas_cumprod: torch.Tensor,
    x0: torch.Tensor,
    xt: torch.Tensor,
    t: torch.Tensor,
    eps: torch.Tensor,
    v: torch.Tensor,
) -> torch.Tensor:
    """Mean KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)) in bits per dimension, gradients only through ``v``.

    ``eps`` is the predicted noise (detached here: the mean is fixed), ``v`` the raw variance channels in
    [-1, 1] nominally. Terms at t = 0 are zero.
    """
    abar = _gather(alphas_cumprod, t, xt)
    positive = (t > 0).view(-1, *([1] * (xt.ndim - 1)))
    abar_prev = torch.where(positive, _gather(alphas_cumprod, (t - 1).clamp(min=0), xt), torch.ones_like(abar))
    beta = 1 - abar / abar_prev
    posterior_var = beta * (1 - abar_prev) / (1 - abar)
    # guided-diffusion's clipped log variance: at t = 0 (variance 0) use t = 1's
    abar1, abar2 = _gather(alphas_cumprod, torch.zeros_like(t), xt), _gather(alphas_cumprod, torch.ones_like(t), xt)
    var1 = (1 - abar2 / abar1) * (1 - abar1) / (1 - abar2)
    log_posterior = torch.log(torch.where(posterior_var > 0, posterior_var, var1))
    coef_x0 = beta * abar_prev.sqrt() / (1 - abar)
    coef_xt = (1 - abar_prev) * (1 - beta).sqrt() / (1 - abar)

    xt32 = xt.float()
    mean_q = coef_x0 * x0.float() + coef_xt * xt32
    x0_pred = (xt32 - (1 - abar).sqrt() * eps.detach().float()) / abar.sqrt()
    mean_p = coef_x0 * x0_pred + coef_xt * xt32
    frac = (v.float() + 1) / 2
    log_p = frac * torch.log(beta) + (1 - frac) * log_posterior
    kl = 0.5 * (
        -1.0 + log_p - log_posterior + torch.exp(log_posterior - log_p) + (mean_q - mean_p) ** 2 * torch.exp(-log_p)
    )
    per_sample = kl.mean(dim=tuple(range(1, kl.ndim))) / math.log(2.0)
    return torch.where(t > 0, per_sample, torch.zeros_like(per_sample)).mean()


def guided(prediction: torch.Tensor, channels: int, guidance: float) -> torch.Tensor:
    """Classifier-free guidance on a ``[uncond; cond]`` batch: mix epsilon, keep the conditional variance."""
    uncond, cond = prediction.chunk(2)
    eps = uncond[:, :channels] + guidance * (cond[:, :channels] - uncond[:, :channels])
    return torch.cat([eps, cond[:, channels:]], dim=1)


def denoise(
    predict: Callable[[torch.Tensor, torch.Tensor, bool], torch.Tensor],
    scheduler: Any,
    noise: torch.Tensor,
    steps: int,
    guidance: float,
    generator: torch.Generator,
    variance: str = "learned",
) -> torch.Tensor:
    """Run IF's reverse process from ``noise`` (``B x C x H x W``) and return the final sample in about [-1, 1].

    ``predict(x, t, doubled)`` returns the model's output for ``x`` (the batch doubled as ``[uncond; cond]``
    when ``doubled``); ``scheduler`` is a fresh `DDPMScheduler` with IF's config (its ``variance_type`` set to
    ``fixed_small`` by the caller when ``variance`` is ``"fixed_small"``).
    """
    channels = noise.shape[1]
    scheduler.set_timesteps(steps, device=noise.device)
    x = noise * scheduler.init_noise_sigma
    use_guidance = guidance > 1.0
    for t in scheduler.timesteps:
        model_in = scheduler.scale_model_input(torch.cat([x, x]) if use_guidance else x, t)
        out = predict(model_in, t, use_guidance).float()
        out = guided(out, channels, guidance) if use_guidance else out
        if variance == "fixed_small" or out.shape[1] == channels:
            out = out[:, :channels]
        x = scheduler.step(out, t, x, generator=generator).prev_sample
    return x
