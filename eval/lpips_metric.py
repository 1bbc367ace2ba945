"""LPIPS (v0.1, AlexNet) against the target, from local weights only.

The lpips package ships its linear heads; the AlexNet trunk is torchvision's ImageNet model, which lpips would
download. Here the network is built with a random trunk (no download) and the trunk's weights are then loaded
from the located local file (`eval.weights.ALEXNET`) with ``torch.load(weights_only=True)``, which refuses
pickled code. Tests inject any small network through `LpipsMetric(network)`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from eval.weights import ALEXNET, Unavailable, locate

#: AlexNet's pooling needs at least this many pixels a side; smaller images are enlarged (bilinear) first
MIN_SIZE = 64


class LpipsMetric:
    """Per-image LPIPS of uint8 images ``N x H x W x 3`` through a network taking pairs in [-1, 1]."""

    def __init__(self, network: torch.nn.Module, batch_size: int = 16) -> None:
        self.network = network.eval()
        self.batch_size = batch_size

    @torch.no_grad()
    def __call__(self, outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
        values = []
        for start in range(0, len(outputs), self.batch_size):
            a = _to_signed(outputs[start : start + self.batch_size])
            b = _to_signed(targets[start : start + self.batch_size])
            values.append(self.network(a, b).reshape(len(a)).double())
        return torch.cat(values).numpy() if values else np.zeros(0)


def _to_signed(images: np.ndarray) -> torch.Tensor:
    """uint8 ``B x H x W x 3`` -> float ``B x 3 x H x W`` in [-1, 1], at least `MIN_SIZE` pixels a side."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
    if min(x.shape[2:]) < MIN_SIZE:
        scale = MIN_SIZE / min(x.shape[2:])
        size = (round(x.shape[2] * scale), round(x.shape[3] * scale))
        x = torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False).clamp(-1, 1)
    return x


def _alexnet_into(network: torch.nn.Module, path: Path) -> None:
    """Copy torchvision AlexNet ``features.*`` weights from ``path`` into lpips' sliced trunk."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    trunk = network.net
    mapped = {}
    for slice_name, module in trunk.named_children():
        for index, _ in module.named_children():
            for param in ("weight", "bias"):
                key = f"features.{index}.{param}"
                if key in state:
                    mapped[f"{slice_name}.{index}.{param}"] = state[key]
    missing = {k for k, _ in trunk.named_parameters()} - set(mapped)
    if missing:
        raise ValueError(f"{path} is not torchvision's AlexNet: it lacks {sorted(missing)[:3]}")
    trunk.load_state_dict(mapped, strict=True)


def load_lpips(weights_dir: Path | None) -> LpipsMetric | Unavailable:
    """LPIPS with the standard weights from local files, or `Unavailable` (never a download)."""
    found = locate(ALEXNET, weights_dir)
    if isinstance(found, Unavailable):
        return Unavailable(f"LPIPS is unavailable: {found.reason}")
    import warnings

    import lpips

    with warnings.catch_warnings():  # lpips still passes torchvision's deprecated `pretrained=` argument
        warnings.simplefilter("ignore", UserWarning)
        network = lpips.LPIPS(net="alex", version="0.1", pretrained=True, pnet_rand=True, verbose=False)
    try:
        _alexnet_into(network, found)
    except (ValueError, RuntimeError, OSError, KeyError) as exc:
        return Unavailable(f"LPIPS is unavailable: {found} could not be loaded ({exc}); replace it with the original")
    return LpipsMetric(network)
