"""`bench report`: not built yet (issue #6)."""

from __future__ import annotations

from bench.commands.pending import not_built


def report_command() -> None:
    """Not built yet (issue #6)."""
    not_built("bench report", 6)
