"""`bench benchmark loop`: not built yet (issue #3)."""

from __future__ import annotations

from bench.commands.pending import not_built


def benchmark_loop_command() -> None:
    """Not built yet (issue #3)."""
    not_built("bench benchmark loop", 3)
