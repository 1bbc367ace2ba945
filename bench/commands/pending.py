"""What a command that is not built yet does: say so in one sentence and exit 2, never pretend."""

from __future__ import annotations

import typer


def not_built(command: str, issue: int) -> None:
    """Print that ``command`` is not built yet (tracked in issue ``issue``) and exit with status 2."""
    typer.echo(f"error: `{command}` is not built yet (planned in issue #{issue}).", err=True)
    raise typer.Exit(2)
