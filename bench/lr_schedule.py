"""The learning-rate factor of a budgeted run: a linear warmup in steps, then an optional anneal to zero.

Why the anneal is keyed to the budget and not to a step count: a run here ends when its dollars are spent, and
how many steps that buys differs per backbone and per machine (wall-clock metering), so "the last 30 % of the
run" is only known as a share of the budget. Annealing the rate to zero over the end of a short run removes the
weight noise a constant rate leaves in the final model (the warmup-stable-decay recipe).
"""

from __future__ import annotations

import math

#: shapes of the anneal over the final ``decay_share`` of the budget
DECAYS = ("constant", "linear", "cosine")


def check_decay(decay: str, decay_share: float) -> None:
    """Refuse an unknown anneal shape or a share outside (0, 1] (ValueError, turned into one line by the config)."""
    if decay not in DECAYS:
        raise ValueError(f"optim.lr_decay must be one of {', '.join(DECAYS)}, got {decay!r}")
    if not 0.0 < decay_share <= 1.0:
        raise ValueError(f"optim.decay_share must be in (0, 1], got {decay_share}")


def lr_factor(step: int, spent_share: float, warmup_steps: int, decay: str, decay_share: float) -> float:
    """Multiplier of the peak rate for optimizer step ``step`` (0-based) taken with ``spent_share`` of the budget
    already spent: ``(step + 1) / warmup_steps`` while warming up, times the anneal's value once the run is in its
    last ``decay_share`` of the budget (1 before it, 0 at the budget)."""
    check_decay(decay, decay_share)
    warm = min(1.0, (step + 1) / max(1, warmup_steps))
    if decay == "constant" or decay_share <= 0:
        return warm
    start = 1.0 - decay_share
    progress = min(1.0, max(0.0, (spent_share - start) / decay_share))
    anneal = 1.0 - progress if decay == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))
    return warm * anneal
