"""How training draws noise levels: uniformly, as SD 1.5, DeepFloyd IF and Stable Cascade were trained, or
biased towards high noise with T2I-Adapter's cubic sampling.

Why the option: a sample's global colors and layout are decided in the first, noisiest sampling steps, yet a
uniform draw spends most training on noise levels where the noisy input itself still reveals those colors (a
flat region's mean survives the noise), so a control module learns to pass stroke colors on only slowly.
T2I-Adapter (Mou et al., 2023) draws ``t = (1 - u^3) T`` for that reason. It is a training-recipe setting:
sampling is unchanged, and the uniform draw stays the default of every `full` preset.
"""

from __future__ import annotations

import torch

TIMESTEP_SAMPLING = ("uniform", "cubic")


def check_timestep_sampling(kind: str) -> None:
    """Raise ValueError naming the valid kinds when ``kind`` is not one."""
    if kind not in TIMESTEP_SAMPLING:
        raise ValueError(f"model.timestep_sampling must be one of {', '.join(TIMESTEP_SAMPLING)}, got {kind!r}")


def noise_fractions(kind: str, batch: int, device: torch.device | str | None = None) -> torch.Tensor:
    """``batch`` draws in [0, 1): 0 is the clean image, values near 1 the noisiest level."""
    check_timestep_sampling(kind)
    u = torch.rand(batch, device=device)
    return u if kind == "uniform" else 1 - u**3


def discrete_timesteps(
    kind: str, batch: int, num_train_timesteps: int, device: torch.device | str | None = None
) -> torch.Tensor:
    """Integer DDPM timesteps in ``[0, num_train_timesteps)`` drawn as ``kind`` says (uniform: ``randint``)."""
    check_timestep_sampling(kind)
    if kind == "uniform":
        return torch.randint(0, num_train_timesteps, (batch,), device=device)
    fractions = noise_fractions(kind, batch, device)
    return (fractions * num_train_timesteps).long().clamp_(0, num_train_timesteps - 1)
