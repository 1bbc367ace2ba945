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


def epsilon_from(
    prediction: torch.Tensor, x_t: torch.Tensor, a: torch.Tensor, b: torch.Tensor, kind: str
) -> torch.Tensor:
    """The noise a ``kind`` prediction at ``x_t`` implies (the prediction itself for epsilon)."""
    return prediction if kind == "epsilon" else a * prediction + b * x_t
