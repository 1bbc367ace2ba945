"""`bench benchmark hints`: the fast stroke renderer against the literal reference, in one run, one thread."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import typer


def _median_ms(fn: Callable[[int], object], repeats: int) -> float:
    times = []
    for seed in range(repeats):
        start = time.perf_counter()
        fn(seed)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000.0)


def benchmark_hints_command(
    resolution: int = typer.Option(512, "--resolution", help="Square image size in pixels."),
    strokes: int = typer.Option(10, "--strokes", help="Strokes per image."),
    repeats: int = typer.Option(30, "--repeats", help="Images timed per path (the reference gets a third)."),
) -> None:
    """Print ms per image of the reference and fast stroke renderers, their ratio, and a whole hint's median."""
    import cv2

    from bench.core.errors import UserError
    from bench.core.images import resize_center_crop
    from hints import HintConfig, make_hint
    from hints.reference import reference_stroke_mask
    from hints.strokes import fast_stroke_mask

    if resolution < 8 or strokes < 1 or repeats < 1:
        raise UserError("--resolution must be >= 8, --strokes >= 1 and --repeats >= 1")
    cv2.setNumThreads(1)
    from skimage import data

    image = resize_center_crop(data.astronaut(), resolution)
    config = HintConfig(num_strokes=strokes, blur_prob=0.0)
    size = (resolution, resolution)
    make_hint(image, 0, config)  # warm-up (imports, OpenCV init)
    ref = _median_ms(
        lambda s: reference_stroke_mask(np.random.default_rng(s), *size, strokes, config), max(1, repeats // 3)
    )
    fast = _median_ms(lambda s: fast_stroke_mask(np.random.default_rng(s), *size, strokes, config), repeats)
    whole = _median_ms(lambda s: make_hint(image, s, config), repeats)
    typer.echo(f"image: {resolution}x{resolution}, {strokes} strokes, blur off, 1 thread, median of runs")
    typer.echo(f"reference strokes: {ref:8.2f} ms/image (per-stroke full-image max filter)")
    typer.echo(f"fast strokes:      {fast:8.2f} ms/image (vectorised walks, union scatter)")
    typer.echo(f"speed-up:          {ref / fast:8.1f}x (target >= 50x)")
    typer.echo(f"whole hint (canny + {strokes} strokes): {whole:.2f} ms median (target <= 5 ms at 512x512)")
