"""The pixel metrics of a set of outputs in one pass: stroke colour, whole-image colour, PSNR, edges.

Each image's CIELAB planes are computed once and shared by the stroke and whole-image colour metrics; images
are scored one at a time so that every temporary fits in cache (faster than whole batches on CPU). The
targets' CIELAB planes can be precomputed once per eval set (`target_labs`) and reused for every checkpoint.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from eval.ciede2000 import Planes, lab_planes
from eval.color_fidelity import stroke_scores
from eval.edges import edge_f1
from eval.image_error import image_color_error, psnr
from eval.metric_specs import PIXEL_METRICS


@dataclass(frozen=True)
class EdgeSettings:
    """The Canny thresholds of the hints (the run's ``hints.canny_*``) and the match tolerance in pixels."""

    low: int = 100
    high: int = 200
    tolerance: int = 2


def edge_tolerance(resolution: int) -> int:
    """The edge match radius for a resolution: 2 px at 512 px, scaled, at least 1 px."""
    return max(1, round(2 * resolution / 512))


def target_labs(targets: np.ndarray) -> list[Planes]:
    """CIELAB planes of each target ``H x W x 3`` (uint8), to reuse across checkpoints."""
    return [lab_planes(torch.from_numpy(np.ascontiguousarray(t))) for t in targets]


def _score_one(
    output: np.ndarray, target: np.ndarray, hint: np.ndarray, edges: EdgeSettings, target_lab: Planes | None
) -> tuple[float, ...]:
    """The pixel metrics of one image, in the order of `PIXEL_METRICS`."""
    lab = lab_planes(torch.from_numpy(np.ascontiguousarray(output)))
    strokes = stroke_scores(None, torch.from_numpy(np.ascontiguousarray(hint[None])), output_lab=lab)
    colour = image_color_error(None, target[None], output_lab=lab, target_lab=target_lab, batch=1)[0]
    edge = edge_f1(output[None], hint[None], edges.low, edges.high, edges.tolerance)[0]
    return (
        float(strokes.mean_de[0]),
        float(strokes.jnd_share[0]),
        float(strokes.close_share[0]),
        float(colour),
        float(psnr(output[None], target[None])[0]),
        float(edge),
    )


def score_pixels(
    outputs: np.ndarray,
    targets: np.ndarray,
    hints: np.ndarray,
    edges: EdgeSettings,
    target_lab: list[Planes] | None = None,
    workers: int = 1,
) -> dict[str, np.ndarray]:
    """Per-image pixel metrics (name -> ``N`` floats) of uint8 outputs and targets ``N x H x W x 3``.

    ``hints`` are ``N x 5 x H x W``, float in [0, 1] or uint8 codes. Names are `PIXEL_METRICS`. ``workers``
    threads score images side by side (torch and OpenCV release the GIL), each op on one core: on a small,
    shared CPU this scales where torch's own intra-op threads spin-wait on each other.
    """
    if outputs.shape != targets.shape or outputs.dtype != np.uint8 or len(hints) != len(outputs):
        raise ValueError(f"outputs {outputs.shape} {outputs.dtype} do not match targets {targets.shape}")

    def one(i: int) -> tuple[float, ...]:
        return _score_one(outputs[i], targets[i], hints[i], edges, target_lab[i] if target_lab is not None else None)

    if workers > 1 and len(outputs) > 1:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(workers) as pool:
                rows = list(pool.map(one, range(len(outputs))))
        finally:
            torch.set_num_threads(threads)
    else:
        rows = [one(i) for i in range(len(outputs))]
    table = np.asarray(rows, dtype=np.float64).reshape(len(outputs), len(PIXEL_METRICS))
    return {name: table[:, k] for k, name in enumerate(PIXEL_METRICS)}
