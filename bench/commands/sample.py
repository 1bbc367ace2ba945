"""`bench sample`: color your own line drawing + color strokes with a trained run."""

from __future__ import annotations

from pathlib import Path

import typer

from bench.core.errors import UserError


def sample_command(
    run_dir: Path = typer.Argument(..., help="A run directory written by `bench train`."),
    lineart: Path = typer.Option(..., "--lineart", help="Your line drawing (any image; dark lines on light)."),
    strokes: Path = typer.Option(..., "--strokes", help="Your color strokes: an RGBA PNG, transparent elsewhere."),
    prompt: str = typer.Option("", "--prompt", help="What the picture shows (the caption)."),
    out: Path = typer.Option(Path("colored.png"), "--out", help="Where to write the colored image (PNG)."),
    checkpoint: str = typer.Option("last", "--checkpoint", help="Checkpoint mark to use (usd-...), or last."),
    steps: int = typer.Option(None, "--steps", help="Sampling steps. [default: the run's eval setting]"),
    guidance: float = typer.Option(None, "--guidance", help="Classifier-free guidance. [default: the run's]"),
    seed: int = typer.Option(0, "--seed", help="Noise seed: the same inputs and seed give the same image."),
) -> None:
    """Color a person's own drawing: line art + RGBA strokes -> the same hint as training -> the model."""
    from bench.coloring import color_drawing, load_run
    from bench.sampling import write_png

    if out.suffix.lower() != ".png":
        raise UserError(f"--out {out}: the image is written as PNG; give a .png file name")
    if (steps is not None and steps < 1) or (guidance is not None and guidance < 0):
        raise UserError("--steps must be >= 1 and --guidance >= 0")
    loaded = load_run(run_dir, checkpoint)
    colored = color_drawing(loaded, lineart, strokes, prompt, steps=steps, guidance=guidance, seed=seed)
    write_png(out, colored.image)
    size = loaded.cfg.data.resolution
    typer.echo(f"wrote {out} ({size}x{size} px) with {loaded.checkpoint.name} of {loaded.run.path}")
