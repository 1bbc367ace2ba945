"""`bench benchmark eval`: time the colour and edge metrics on 512 px images against a scikit-image reference."""

from __future__ import annotations

import time

import numpy as np
import typer


def _pool(resolution: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``size`` (output, target, hint) triples from the built-in photos: realistic edges and strokes."""
    from bench.core.images import resize_center_crop
    from bench.data.photos import PHOTOS, load_photo
    from hints import HintConfig, make_hint

    names = list(PHOTOS)
    rng = np.random.default_rng(0)
    targets, outputs, hints = [], [], []
    for i in range(size):
        target = resize_center_crop(load_photo(names[i % len(names)]), resolution)
        noise = rng.normal(0, 12, target.shape)
        targets.append(target)
        outputs.append(np.clip(target + noise, 0, 255).astype(np.uint8))
        hint = make_hint(target, i, HintConfig(num_strokes=10, blur_prob=0.0))
        hints.append(np.round(hint * 255).astype(np.uint8))
    return np.stack(outputs), np.stack(targets), np.stack(hints)


def _reference_seconds(outputs: np.ndarray, targets: np.ndarray, hints: np.ndarray) -> tuple[float, float]:
    """(wall, CPU) seconds per image of the same metrics with scikit-image's float64 rgb2lab + deltaE_ciede2000."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    from eval.edges import edge_f1
    from eval.image_error import psnr

    start, cpu = time.perf_counter(), time.process_time()
    for i in range(len(outputs)):
        lab_out, lab_tgt = rgb2lab(outputs[i]), rgb2lab(targets[i])
        deltaE_ciede2000(lab_out, lab_tgt).mean()
        mask = hints[i, 4] > 0
        strokes = rgb2lab(hints[i, 1:4].transpose(1, 2, 0)[mask][None] / 255.0)
        deltaE_ciede2000(lab_out[mask][None], strokes).mean()
    psnr(outputs, targets)
    edge_f1(outputs, hints)
    return (time.perf_counter() - start) / len(outputs), (time.process_time() - cpu) / len(outputs)


def benchmark_eval_command(
    images: int = typer.Option(1000, "--images", help="Images scored (cycling through a pool of distinct ones)."),
    resolution: int = typer.Option(512, "--resolution", help="Square image size in pixels."),
    workers: int = typer.Option(0, "--workers", help="Images scored side by side (0 = one per available core)."),
    pool: int = typer.Option(16, "--pool", help="Distinct images in memory."),
) -> None:
    """Print the seconds to score the colour and edge metrics of --images images (target <= 60 s for 1,000
    512 px images on 2 cores) and the speed-up over scikit-image's float64 CIEDE2000 on the same images."""
    import os

    import torch

    from bench.core.errors import UserError
    from eval.pixel_metrics import EdgeSettings, edge_tolerance, score_pixels, target_labs

    if images < 1 or resolution < 16 or pool < 1:
        raise UserError("--images and --pool must be >= 1 and --resolution >= 16")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = workers or cores
    torch.set_num_threads(1)
    outputs, targets, hints = _pool(resolution, min(pool, images))
    edges = EdgeSettings(tolerance=edge_tolerance(resolution))
    score_pixels(outputs[:2], targets[:2], hints[:2], edges, workers=workers)  # warm-up
    start, cpu_start = time.perf_counter(), time.process_time()
    done = 0
    while done < images:
        count = min(len(outputs), images - done)
        score_pixels(outputs[:count], targets[:count], hints[:count], edges, workers=workers)
        done += count
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    cached_labs = target_labs(targets)  # bench eval computes these once per eval set, for every checkpoint
    start = time.perf_counter()
    done = 0
    while done < images:
        count = min(len(outputs), images - done)
        score_pixels(outputs[:count], targets[:count], hints[:count], edges, cached_labs[:count], workers=workers)
        done += count
    cached = time.perf_counter() - start
    reference, reference_cpu = _reference_seconds(outputs[:4], targets[:4], hints[:4])
    per_image = seconds / images
    typer.echo(
        f"{images} images of {resolution}x{resolution} px, 10 strokes each; {workers} scoring threads "
        f"(cores available: {cores}; the reference runs on one)"
    )
    typer.echo("metrics: stroke CIEDE2000 + shares, whole-image CIEDE2000, PSNR, Canny edge F1")
    typer.echo(f"strokebench:  {seconds:8.1f} s total, {per_image * 1000:7.1f} ms/image")
    typer.echo(
        f"  CPU time {cpu:.1f} s ({cpu / images * 1000:.1f} ms/image): {cpu / workers:.1f} s on {workers} idle "
        "cores (wall time above includes waiting for cores other processes hold)"
    )
    typer.echo(
        f"  as bench eval scores (targets' CIELAB computed once per eval set): {cached:.1f} s total, "
        f"{cached / images * 1000:.1f} ms/image"
    )
    typer.echo(f"scikit-image: {reference * images:8.1f} s total (from 4 images), {reference * 1000:7.1f} ms/image")
    typer.echo(
        f"speed-up:     {reference / per_image:8.1f}x wall; {reference_cpu / (cpu / images):.1f}x in CPU time per "
        "image (robust to other load); target: <= 60 s for 1,000 images at 512 px on 2 cores"
    )
