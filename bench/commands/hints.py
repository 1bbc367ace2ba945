"""`bench hints`: not built yet (issue #2)."""

from __future__ import annotations

from bench.commands.pending import not_built


def hints_command() -> None:
    """Not built yet (issue #2)."""
    not_built("bench hints", 2)
