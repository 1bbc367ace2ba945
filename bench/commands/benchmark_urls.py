"""`bench benchmark urls`: images/s from URLs with 200 ms latency, against the same images from a local folder.

Both streams are the real training loader (decode, resize + center crop, hint), at the run's resolution, with
the tiny preset's worker count; the URL cache starts empty, so every image is fetched. Optionally a tiny
run (`sd` by default) trains from the URLs (cold cache again) and reports its data-wait fraction.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import typer


def _test_images(count: int) -> list[tuple[bytes, str]]:
    """``count`` distinct 512 x 384 JPEGs (crops of scikit-image's photos) with captions."""
    import cv2
    import numpy as np

    from bench.data import photos

    names = ["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry"]
    sources = {name: photos.load_photo(name) for name in names}
    rng = np.random.default_rng(0)
    images = []
    for index in range(count):
        name = names[index % len(names)]
        photo = sources[name]
        height, width = photo.shape[:2]
        crop_h = int(height * rng.uniform(0.6, 1.0))
        crop_w = min(width, int(crop_h * 4 / 3))
        top, left = rng.integers(0, height - crop_h + 1), rng.integers(0, width - crop_w + 1)
        crop = cv2.resize(photo[top : top + crop_h, left : left + crop_w], (512, 384), interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        images.append((data.tobytes(), f"{photos.PHOTOS[name]}, view {index}"))
    return images


@contextlib.contextmanager
def _cache_env(path: Path) -> Iterator[None]:
    """Point the URL cache of runs built from a config (no cache setting of their own) at ``path``."""
    previous = os.environ.get("STROKEBENCH_CACHE")
    os.environ["STROKEBENCH_CACHE"] = str(path)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("STROKEBENCH_CACHE", None)
        else:
            os.environ["STROKEBENCH_CACHE"] = previous


def _throughput(cfg, options, batches: int) -> tuple[float, float]:  # noqa: ANN001 - RunConfig, SourceOptions
    """(images/s after the first batch, seconds to the first batch) of one pass of the training loader."""
    from bench.data.loader import TrainStream

    stream = TrainStream(cfg, options=options)
    try:
        start = time.perf_counter()
        next(stream)
        first = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(batches - 1):
            next(stream)
        return (batches - 1) * cfg.data.batch_size / (time.perf_counter() - start), first
    finally:
        stream.close()


def benchmark_urls_command(
    images: int = typer.Option(512, "--images", help="Distinct images (URLs) in one pass."),
    latency_ms: float = typer.Option(200.0, "--latency-ms", help="Simulated latency of every request."),
    resolution: int = typer.Option(64, "--resolution", help="Training resolution in pixels."),
    workers: int = typer.Option(None, "--workers", help="Loader worker processes. [default: the tiny preset's]"),
    threads: int = typer.Option(64, "--threads", help="Concurrent requests per loader process."),
    train_seconds: float = typer.Option(
        20.0, "--train-seconds", help="Also train a tiny backbone from the URLs this long; report data wait (0: skip)."
    ),
    backbone: str = typer.Option("sd", "--backbone", help="Backbone of that training run (tiny preset)."),
) -> None:
    """Print images/s of the URL source (fetch + decode + resize + crop + hint) and of the same images from a
    local folder, their ratio, the target (>= 100 images/s), and the machine's load."""
    from bench.budget import Pricing
    from bench.config import resolve_config
    from bench.core.errors import UserError
    from bench.data.local_server import LocalImageServer, Route
    from bench.data.options import SourceOptions
    from bench.train import start_run, train_run

    cfg = resolve_config(backbone, "tiny")
    workers = cfg.data.num_workers if workers is None else workers
    if images < cfg.data.eval_size + 4 * cfg.data.batch_size or latency_ms < 0 or threads < 1 or workers < 0:
        raise UserError(f"--images must be >= {cfg.data.eval_size + 4 * cfg.data.batch_size}; --latency-ms >= 0")
    data = dataclasses.replace(cfg.data, resolution=resolution, num_workers=workers)
    batches = (images - cfg.data.eval_size) // cfg.data.batch_size
    pictures = _test_images(images)
    load = os.getloadavg()[0]
    with (
        tempfile.TemporaryDirectory(prefix="strokebench-urls-") as tmp,
        LocalImageServer(
            {f"/img/{i:05d}.jpg": Route(body) for i, (body, _) in enumerate(pictures)}, latency_s=latency_ms / 1000
        ) as server,
    ):
        root = Path(tmp)
        folder = root / "folder"
        folder.mkdir()
        for i, (body, _) in enumerate(pictures):
            (folder / f"{i:05d}.jpg").write_bytes(body)
        (folder / "metadata.jsonl").write_text(
            "".join(json.dumps({"file_name": f"{i:05d}.jpg", "text": c}) + "\n" for i, (_, c) in enumerate(pictures))
        )
        table = root / "urls.jsonl"
        table.write_text(
            "".join(
                json.dumps({"url": server.url(f"/img/{i:05d}.jpg"), "caption": c}) + "\n"
                for i, (_, c) in enumerate(pictures)
            )
        )
        options = SourceOptions(eval_size=cfg.data.eval_size, fetch_threads=threads, cache_dir=str(root / "cache"))
        run_cfg = dataclasses.replace(cfg, data=dataclasses.replace(data, source=f"folder:{folder}"))
        local, _ = _throughput(run_cfg, options, batches)
        run_cfg = dataclasses.replace(cfg, data=dataclasses.replace(data, source=f"urls:{table}"))
        remote, first = _throughput(run_cfg, options, batches)
        requests = sum(server.hits.values())

        typer.echo(
            f"{images} images (512x384 JPEG) -> {resolution} px + hint, batch {cfg.data.batch_size}, {workers} worker "
            f"process(es), {threads} requests in flight per process, {latency_ms:.0f} ms latency per request"
        )
        typer.echo(
            f"machine: {os.cpu_count()} cores, load average {load:.2f} before the run (shared machines: timings vary)"
        )
        typer.echo(f"local folder: {local:8.1f} images/s (reference)")
        typer.echo(f"URLs:         {remote:8.1f} images/s ({requests} requests, first batch after {first:.2f} s)")
        typer.echo(f"ratio:        {remote / local:8.3f} of the folder's rate; target >= 100 images/s from URLs")

        if train_seconds > 0:
            usd = Pricing.of(cfg.budget).usd(train_seconds)
            budget = dataclasses.replace(cfg.budget, usd=usd, method="wallclock", mark_every=1.0)
            train_cfg = dataclasses.replace(run_cfg, budget=budget)
            with _cache_env(root / "train-cache"):
                result = train_run(train_cfg, start_run(train_cfg, root / "run"), resume=False, quiet=True)
            typer.echo(
                f"tiny {backbone} from URLs (cold cache): {result.steps} steps, "
                f"{result.samples_per_second:.1f} samples/s, "
                f"data wait {result.data_wait_fraction:.1%} of step time (target < 5 %)"
            )
