"""`bench sample`: not built yet (issue #3)."""

from __future__ import annotations

from bench.commands.pending import not_built


def sample_command() -> None:
    """Not built yet (issue #3)."""
    not_built("bench sample", 3)
