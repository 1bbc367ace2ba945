"""Settings of the shared hint generator.

The defaults are the seed-faithful stroke sampler of ``shared/seed-notes.md``: walks of 200-1000 steps in the
8 neighbour directions, thickness drawn from {0, 1, 2, 3} with a square max filter, target colors copied under
the mask. Anything else (other samplers, other ranges) is an opt-in setting.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class HintConfig:
    """How a 5-channel hint (Canny edges + RGBA strokes) is drawn from a target image.

    Units: pixels of the image the hint is made for; probabilities in [0, 1].
    """

    #: strokes per image: a fixed count, or an inclusive (min, max) range drawn uniformly per image
    num_strokes: int | tuple[int, int] = (1, 10)
    #: probability that the whole stroke map (RGBA) is Gaussian-blurred, so a model cannot learn a plain copy
    blur_prob: float = 0.2
    #: Gaussian sigma of that blur, in pixels
    blur_sigma: float = 2.0
    #: stroke sampler: "seed" is the seed-faithful one; "scaled" scales walk lengths by min(H, W) / 512
    sampler: str = "seed"
    #: inclusive range of random-walk lengths, in steps (one step = one pixel, 8 directions)
    walk_length: tuple[int, int] = (200, 1000)
    #: thickness values drawn uniformly per stroke; t > 1 dilates the walk with a t x t square max filter
    thicknesses: tuple[int, ...] = (0, 1, 2, 3)
    #: Canny hysteresis thresholds on 8-bit gray values
    canny_low: int = 100
    canny_high: int = 200

    def __post_init__(self) -> None:
        """Reject settings that cannot draw a hint (the config loader turns this into a one-line error)."""
        counts = (self.num_strokes,) * 2 if isinstance(self.num_strokes, int) else tuple(self.num_strokes)
        if min(counts) < 0 or counts[0] > counts[1]:
            raise ValueError(f"hints.num_strokes must be >= 0 and min <= max, got {self.num_strokes}")
        if not 0.0 <= self.blur_prob <= 1.0:
            raise ValueError(f"hints.blur_prob must be in [0, 1], got {self.blur_prob}")
        if self.blur_sigma <= 0:
            raise ValueError(f"hints.blur_sigma must be > 0, got {self.blur_sigma}")
        if self.sampler not in ("seed", "scaled"):
            raise ValueError(f"hints.sampler must be 'seed' or 'scaled', got '{self.sampler}'")
        if not 1 <= self.walk_length[0] <= self.walk_length[1]:
            raise ValueError(f"hints.walk_length must be 1 <= min <= max, got {self.walk_length}")
        if not self.thicknesses or min(self.thicknesses) < 0:
            raise ValueError(f"hints.thicknesses must be non-negative sizes, got {self.thicknesses}")
