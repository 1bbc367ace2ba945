"""What the denoiser predicts: the noise (epsilon, as SD 1.5, DeepFloyd IF and Stable Cascade were trained) or the
velocity ``v = a * eps - b * x0`` of Salimans & Ho (2022), for ``x_t = a * x0 + b * eps`` with ``a^2 + b^2 = 1``.

Why the option: colors are decided at the noisiest levels, where ``x_t`` is almost all noise. There an epsilon
target is almost ``x_t`` itself, so its loss carries next to nothing about the image and a control module is
never pushed to take colors from the hint; the velocity target tends to ``-x0`` there, so the loss is about the
image's colors exactly where only the hint can supply them (measured on the tiny presets: epsilon-trained models
ignore the strokes' colors, v-trained ones carry them). A pretrained base predicts what it was trained on, so
``v`` needs a base that trains too (the tiny presets).

The conversions are linear, so classifier-free guidance mixes either kind the same way.
"""

from __future__ import annotations

import torch

PREDICTIONS = ("epsilon", "v")


def check_prediction(kind: str) -> None:
    """Raise ValueError naming the valid kinds when ``kind`` is not one."""
    if kind not in PREDICTIONS:
        raise ValueError(f"model.prediction must be one of {', '.join(PREDICTIONS)}, got {kind!r}")


def velocity(x0: torch.Tensor, noise: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The v target for ``x_t = a * x0 + b * noise``."""
    return a * noise - b * x0


def discrete_scalers(alphas_cumprod: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, b) of a DDPM schedule at integer timesteps ``t``, shaped ``B x 1 x 1 x 1`` (float32, ``t``'s device)."""
    abar = alphas_cumprod.to(t.device, torch.float32)[t].view(-1, 1, 1, 1)
    return abar.sqrt(), (1 - abar).sqrt()


def epsilon_from(
    prediction: torch.Tensor, x_t: torch.Tensor, a: torch.Tensor, b: torch.Tensor, kind: str
) -> torch.Tensor:
    """The noise a ``kind`` prediction at ``x_t`` implies (the prediction itself for epsilon)."""
    return prediction if kind == "epsilon" else a * prediction + b * x_t


def v_loss_weight(a: torch.Tensor, b: torch.Tensor, high_noise_weight: float) -> torch.Tensor:
    """Per-level weight ``a^2 + w * b^2`` of a v loss: 1 everywhere for ``w = 1`` (the plain v loss), and for
    ``w = 0`` exactly the epsilon loss (a v error is an epsilon error divided by ``a``).

    Why: measured on the tiny IF, the plain v loss spends the model on the noisiest levels (their image error is
    10x the low levels' noise error early on), so it learns colors but denoises 2-3x worse at low noise than an
    epsilon loss and samples stay grainy; a small ``w`` keeps the epsilon loss's denoising and still asks the
    noisiest levels for the image.
    """
    return a**2 + high_noise_weight * b**2


def per_sample_loss(
    prediction: torch.Tensor,
    x0: torch.Tensor,
    noise: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor,
    kind: str,
    high_noise_weight: float = 1.0,
) -> torch.Tensor:
    """Per-sample MSE of a ``kind`` prediction against its target (``B``), v losses weighted by `v_loss_weight`;
    ``a`` and ``b`` broadcast over the samples (``B x 1 x 1 x 1``)."""
    dims = tuple(range(1, prediction.ndim))
    if kind == "epsilon":
        return (prediction.float() - noise.float()).pow(2).mean(dim=dims)
    error = (prediction.float() - velocity(x0.float(), noise.float(), a, b)).pow(2).mean(dim=dims)
    return error * v_loss_weight(a, b, high_noise_weight).reshape(-1)
