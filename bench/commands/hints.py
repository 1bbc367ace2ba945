"""`bench hints IMAGE`: draw the 5-channel hint of one image and save a picture a person can judge."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import typer
from PIL import Image

from bench.core.errors import UserError


def _load_image(spec: str) -> np.ndarray:
    """A file path, or a built-in item such as ``builtin:photos/astronaut`` or ``builtin:shapes/eval/3``."""
    if spec.startswith("builtin:"):
        from bench.data.sources import load_example

        return load_example(spec).image
    from bench.core.images import read_rgb

    return read_rgb(spec)


def _png(picture: Image.Image) -> bytes:
    """``picture`` encoded as PNG bytes (written atomically by the caller)."""
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def hints_command(
    image: str = typer.Argument(
        ..., help="An image file, or a built-in item: builtin:photos/astronaut, builtin:shapes/eval/3."
    ),
    seed: int = typer.Option(0, "--seed", help="Hint seed: the same image, seed and settings give the same hint."),
    out: Path = typer.Option(Path("hint.png"), "--out", help="Where to write the picture (PNG)."),
    resolution: int = typer.Option(
        0, "--resolution", help="Resize (short side) and center-crop to this many pixels first; 0 keeps the size."
    ),
    overrides: list[str] = typer.Option(
        [], "--set", help="Hint settings as hints.field=value, e.g. --set hints.num_strokes=2,8 (repeatable)."
    ),
    lineart_out: Path = typer.Option(
        None, "--lineart-out", help="Also write the edges as a line drawing (dark lines on white, PNG)."
    ),
    strokes_out: Path = typer.Option(
        None, "--strokes-out", help="Also write the strokes as an RGBA PNG (transparent elsewhere)."
    ),
) -> None:
    """Draw the hint (Canny edges + RGBA color strokes) of IMAGE and save image | edges | strokes side by side.

    With --lineart-out and --strokes-out it also writes the two files `bench sample` reads, so a built-in eval
    drawing (e.g. builtin:shapes/eval/3) can be colored the way a person's own drawing is.
    """
    from bench.config import RunConfig, apply_overrides
    from bench.core.atomic import write_bytes
    from bench.core.images import resize_center_crop
    from hints import make_hint
    from hints.preview import hint_preview

    bad = [o for o in overrides if not o.strip().startswith("hints.")]
    if bad:
        raise UserError(f"--set {bad[0]!r}: bench hints only takes hints.* settings")
    config = apply_overrides(RunConfig(), overrides).hints
    if resolution < 0:
        raise UserError(f"--resolution must be >= 0, got {resolution}")
    for flag, path in (("--out", out), ("--lineart-out", lineart_out), ("--strokes-out", strokes_out)):
        if path is not None and path.suffix.lower() != ".png":
            raise UserError(f"{flag} {path}: the picture is written as PNG; give a .png file name")
    rgb = _load_image(image)
    if resolution:
        rgb = resize_center_crop(rgb, resolution)
    try:
        hint = make_hint(rgb, seed, config)
    except ValueError as exc:  # an invalid setting combination (e.g. an unknown sampler)
        raise UserError(str(exc)) from None
    write_bytes(out, _png(hint_preview(rgb, hint)))
    if lineart_out is not None:
        lines = (255 - np.round(hint[0] * 255)).astype(np.uint8)
        write_bytes(lineart_out, _png(Image.fromarray(np.stack([lines] * 3, axis=-1))))
        typer.echo(f"wrote {lineart_out} (the edges as a line drawing)")
    if strokes_out is not None:
        rgba = np.round(np.moveaxis(hint[1:5], 0, -1) * 255).astype(np.uint8)
        write_bytes(strokes_out, _png(Image.fromarray(rgba)))
        typer.echo(f"wrote {strokes_out} (the strokes, RGBA)")
    covered = float((hint[4] > 0).mean())
    typer.echo(f"wrote {out} ({rgb.shape[1]}x{rgb.shape[0]} px, strokes cover {covered:.1%} of the image)")
