"""Stroke-colour fidelity: does the output keep the colour the user painted, where they painted it?

At every stroke pixel (hint alpha > 0) the output's colour is compared with the stroke's colour by CIEDE2000
in CIELAB. Per image: the mean difference and the shares of stroke pixels under 2.3 (one just-noticeable
difference) and under 10. An image without stroke pixels has no score (NaN) and is left out of means.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from eval.ciede2000 import Planes, ciede2000_planes, lab_planes
from eval.metric_specs import CLOSE, JND


@dataclass
class StrokeScores:
    """Per-image stroke scores (``B``-vectors; NaN where an image has no stroke pixel)."""

    mean_de: np.ndarray
    jnd_share: np.ndarray
    close_share: np.ndarray
    pixels: np.ndarray


def stroke_scores(
    outputs: np.ndarray | torch.Tensor, hints: np.ndarray | torch.Tensor, output_lab: Planes | None = None
) -> StrokeScores:
    """Score outputs ``B x H x W x 3`` (uint8) against the strokes of hints ``B x 5 x H x W``.

    Hints are float in [0, 1] or uint8 codes (0-255, how the harness stores eval hints compactly).

    ``output_lab`` may carry the outputs' CIELAB planes when the caller already has them (flat, B*H*W long).
    """
    hints = torch.as_tensor(hints)
    batch, _, height, width = hints.shape
    lab = output_lab if output_lab is not None else lab_planes(torch.as_tensor(outputs))
    where = torch.nonzero(hints[:, 4].reshape(-1) > 0).squeeze(1)
    colours = hints[:, 1:4].permute(0, 2, 3, 1).reshape(-1, 3).index_select(0, where)
    errors = ciede2000_planes(lab_planes(colours), tuple(p.index_select(0, where) for p in lab))  # type: ignore[arg-type]
    image = torch.div(where, height * width, rounding_mode="floor")
    pixels = torch.bincount(image, minlength=batch).double()

    def per_image(values: torch.Tensor) -> np.ndarray:
        sums = torch.bincount(image, weights=values.double(), minlength=batch)
        return torch.where(pixels > 0, sums / pixels.clamp_min(1), torch.nan).numpy()

    return StrokeScores(
        mean_de=per_image(errors),
        jnd_share=per_image((errors < JND).double()),
        close_share=per_image((errors < CLOSE).double()),
        pixels=pixels.numpy().astype(np.int64),
    )
