"""`bench codec fit`: not built yet (issue #3)."""

from __future__ import annotations

from bench.commands.pending import not_built


def codec_fit_command() -> None:
    """Not built yet (issue #3)."""
    not_built("bench codec fit", 3)
