"""Whole-image error against the target: mean CIEDE2000 over all pixels, and PSNR on 8-bit RGB.

The target is the photograph or drawing the hint was made from; a model that follows the strokes but invents
the rest of the colours scores well on stroke fidelity and worse here, which is why both are reported.
"""

from __future__ import annotations

import numpy as np
import torch

from eval.ciede2000 import Planes, ciede2000_planes, lab_planes

#: PSNR of identical images (infinite) is reported as this many dB so that means stay finite
PSNR_CAP_DB = 100.0


def image_color_error(
    outputs: np.ndarray | torch.Tensor | None,
    targets: np.ndarray | torch.Tensor | None,
    output_lab: Planes | None = None,
    target_lab: Planes | None = None,
    batch: int | None = None,
) -> np.ndarray:
    """Mean CIEDE2000 per image between outputs and targets ``B x H x W x 3`` (uint8); returns ``B`` floats.

    Precomputed CIELAB planes (flat, B*H*W long) can stand in for either image stack; then ``batch`` says B.
    """
    lab_out = output_lab if output_lab is not None else lab_planes(torch.as_tensor(outputs))
    lab_tgt = target_lab if target_lab is not None else lab_planes(torch.as_tensor(targets))
    count = batch if batch is not None else torch.as_tensor(outputs if outputs is not None else targets).shape[0]
    return ciede2000_planes(lab_out, lab_tgt).view(count, -1).double().mean(dim=1).numpy()


def psnr(outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """PSNR in dB per image of uint8 ``B x H x W x 3`` stacks (peak 255, all channels); ``B`` floats."""
    diff = np.asarray(outputs).reshape(len(outputs), -1).astype(np.int32)
    diff -= np.asarray(targets).reshape(len(targets), -1)
    mse = np.einsum("ij,ij->i", diff, diff, dtype=np.int64) / diff.shape[1]
    with np.errstate(divide="ignore"):
        values = 10.0 * np.log10(255.0**2 / mse)
    return np.minimum(values, PSNR_CAP_DB)
