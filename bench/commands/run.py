"""`bench run`: not built yet (issue #6)."""

from __future__ import annotations

from bench.commands.pending import not_built


def run_command() -> None:
    """Not built yet (issue #6)."""
    not_built("bench run", 6)
