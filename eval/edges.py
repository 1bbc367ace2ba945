"""Edge fidelity: does the output keep the line drawing? F1 of its Canny edges against the hint's edges.

As ControlNet++ scores Canny control: run the same Canny as the hint generator (OpenCV, same thresholds) on the
output and compare edge maps. A pixel counts as matched if an edge of the other map lies within ``tolerance``
pixels (a disc), which forgives the one-pixel shifts any generator makes. Precision = matched output edges /
output edges, recall = matched hint edges / hint edges, F1 their harmonic mean; two empty maps agree (F1 = 1),
one empty map scores 0.
"""

from __future__ import annotations

import cv2
import numpy as np

from hints.edges import CannyEdges

#: pixels an edge may be off and still count as matched
DEFAULT_TOLERANCE = 2


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def edge_f1_pair(output_edges: np.ndarray, hint_edges: np.ndarray, tolerance: int = DEFAULT_TOLERANCE) -> float:
    """F1 of two boolean/0-255 edge maps ``H x W`` with a ``tolerance``-pixel match radius."""
    out = (np.asarray(output_edges) > 0).astype(np.uint8)
    ref = (np.asarray(hint_edges) > 0).astype(np.uint8)
    n_out, n_ref = int(np.count_nonzero(out)), int(np.count_nonzero(ref))
    if n_out == 0 and n_ref == 0:
        return 1.0
    if n_out == 0 or n_ref == 0:
        return 0.0
    if tolerance > 0:
        kernel = _disc(tolerance)
        near_ref, near_out = cv2.dilate(ref, kernel), cv2.dilate(out, kernel)
    else:
        near_ref, near_out = ref, out
    precision = np.count_nonzero(out & near_ref) / n_out
    recall = np.count_nonzero(ref & near_out) / n_ref
    return 0.0 if precision + recall == 0 else 2.0 * precision * recall / (precision + recall)


def edge_f1(
    outputs: np.ndarray,
    hints: np.ndarray,
    low: int = 100,
    high: int = 200,
    tolerance: int = DEFAULT_TOLERANCE,
) -> np.ndarray:
    """Edge F1 per image of uint8 outputs ``B x H x W x 3`` against hints ``B x 5 x H x W`` (channel 0 = edges)."""
    canny = CannyEdges(low, high)
    hints = np.asarray(hints)
    return np.array([edge_f1_pair(canny(image), hints[i, 0] > 0.5, tolerance) for i, image in enumerate(outputs)])
