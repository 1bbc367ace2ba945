"""An eval set as the harness sees it: targets, hints and captions in fixed order, nothing about models.

Hints are kept as uint8 codes (``round(255 x value)``): eval hints are exact multiples of 1/255 (Canny {0, 1},
stroke colours copied from the 8-bit target, alpha {0, 1} since eval strokes are never blurred), so the codes
are lossless and a 1,000-image set at 512 px takes 1.3 GB instead of 5.2 GB of float32.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: the float hint of a code, computed as the hint generator computes it (code x float32(1/255))
_CODE_SCALE = np.float32(1 / 255)


@dataclass
class EvalItems:
    """One eval set: ``N`` targets ``N x H x W x 3`` (uint8), hints ``N x 5 x H x W`` (uint8 codes), captions."""

    #: the eval set as written in eval.csv (a data spec such as ``builtin:photos``)
    spec: str
    keys: list[str]
    captions: list[str]
    targets: np.ndarray
    hints: np.ndarray
    #: strokes per image when fixed for a stroke adherence curve, else None (the run's own hint settings)
    strokes: int | None = None
    #: how the items were changed from the eval set's own: "" (not), "colour-free", "counterfactual"
    variant: str = ""
    #: pictures of the hints a person can read (``N x H x W x 3`` uint8), for sample grids
    pictures: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        n = len(self.keys)
        if not (len(self.captions) == len(self.targets) == len(self.hints) == n):
            raise ValueError("keys, captions, targets and hints differ in length")
        if self.targets.dtype != np.uint8 or self.hints.dtype != np.uint8:
            raise ValueError("targets and hints must be uint8")

    def __len__(self) -> int:
        return len(self.keys)

    def float_hints(self, start: int, stop: int) -> np.ndarray:
        """Hints ``[start, stop)`` as float32 in [0, 1], bit-identical to the generator's floats."""
        return self.hints[start:stop].astype(np.float32) * _CODE_SCALE

    @staticmethod
    def encode_hints(hints: np.ndarray) -> np.ndarray:
        """Float hints in [0, 1] -> uint8 codes."""
        return np.round(np.clip(hints, 0.0, 1.0) * 255.0).astype(np.uint8)
