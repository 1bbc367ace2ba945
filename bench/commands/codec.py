"""`bench codec fit`: train a tiny latent codec on ``builtin:shapes`` and write it where the tiny presets load it.

A plain autoencoder recipe, because the built-in images (flat colors, gradients, outlines) need nothing more:
pixel MSE plus a mean absolute error term (it keeps sharpening edges once MSE is small) and a small KL term (so
the latent stays a smooth, bounded space a diffusion model can learn), AdamW with a short warmup and cosine
decay, seeded so the same seed and thread count give the same weights. At the end it measures the latent scaling
factor on training images and the reconstruction PSNR on the eval split (disjoint from training), and stores
both, with the recipe, in the codec's json.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import typer

from bench.core.errors import UserError

#: images the scaling factor is measured on (first items of the train split) and the PSNR is reported on
SCALE_ITEMS = 256
EVAL_ITEMS = 64
WARMUP_STEPS = 50


def _pixels(source: Any, indices: list[int]) -> Any:
    """Items ``indices`` of ``source`` as a ``B x 3 x H x W`` float tensor in [-1, 1]."""
    import numpy as np
    import torch

    images = np.stack([source[i].image for i in indices])
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def _lr_factor(step: int, steps: int) -> float:
    """Linear warmup, then cosine decay to 5 % of the peak learning rate."""
    warmup = min(WARMUP_STEPS, max(1, steps // 10))
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))


def _measure_scaling(vae: Any, source: Any, seed: int) -> dict[str, float]:
    """Statistics of sampled latents on training images; scaling factor = 1 / their standard deviation."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    samples, spreads = [], []
    with torch.no_grad():
        for start in range(0, min(SCALE_ITEMS, len(source)), 64):
            indices = list(range(start, min(start + 64, SCALE_ITEMS, len(source))))
            posterior = vae.encode(_pixels(source, indices)).latent_dist
            samples.append(posterior.sample(generator=generator))
            spreads.append(posterior.std.flatten())
    latents = torch.cat(samples)
    std = float(latents.std())
    return {
        "scaling_factor": 1.0 / std,
        "latent_mean": float(latents.mean()),
        "latent_std": std,
        "posterior_std_mean": float(torch.cat(spreads).mean()),
    }


def train_codec(name: str, steps: int, seed: int, quiet: bool = True) -> Any:
    """A fresh codec ``name`` trained for ``steps`` steps (train mode); same seed + thread count -> same weights."""
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    from backbones.tiny_codec import build_codec, codec_spec
    from bench.data.sources import open_source

    spec = codec_spec(name)
    train = open_source("builtin:shapes", "train", spec.resolution)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vae = build_codec(name)
    vae.train()
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(train), generator=generator).tolist()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=spec.lr, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(step, steps))
    latent_elements = math.prod(spec.latent_shape)
    bar = tqdm(range(steps), desc=f"codec {name}", disable=quiet, unit="step", dynamic_ncols=True)
    for step in bar:
        start = (step * spec.batch_size) % len(order)
        pixels = _pixels(train, [order[(start + k) % len(order)] for k in range(spec.batch_size)])
        posterior = vae.encode(pixels).latent_dist
        recon = vae.decode(posterior.sample(generator=generator)).sample
        mse = F.mse_loss(recon, pixels)
        l1 = (recon - pixels).abs().mean()
        loss = mse + spec.l1_weight * l1 + spec.kl_weight * posterior.kl().mean() / latent_elements
        if not torch.isfinite(loss):
            raise RuntimeError(f"codec training diverged at step {step} (loss {loss.item()})")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        if step % 10 == 0 or step == steps - 1:
            value = mse.item()
            bar.set_postfix(mse=f"{value:.4f}", psnr=f"{10 * math.log10(4 / max(value, 1e-10)):.1f}dB")
    return vae


def fit_codec(name: str, steps: int, seed: int, quiet: bool) -> tuple[Any, dict[str, Any]]:
    """Train codec ``name``, set its scaling factor, score it; returns the `AutoencoderKL` (eval mode) + record."""
    import torch

    from backbones.tiny_codec import codec_spec, reconstruction_psnr
    from bench.data.sources import open_source

    spec = codec_spec(name)
    started = time.perf_counter()
    vae = train_codec(name, steps, seed, quiet).eval()
    train_seconds = time.perf_counter() - started
    stats = _measure_scaling(vae, open_source("builtin:shapes", "train", spec.resolution), seed)
    vae.register_to_config(scaling_factor=stats["scaling_factor"])
    evaluation = open_source("builtin:shapes", "eval", spec.resolution)
    psnr = reconstruction_psnr(vae, _pixels(evaluation, list(range(min(EVAL_ITEMS, len(evaluation))))))
    record = {
        "psnr_db": round(psnr, 3),
        "psnr_on": f"builtin:shapes eval split, first {EVAL_ITEMS} items, {spec.resolution} px, encode mode",
        "steps": steps,
        "seed": seed,
        "batch_size": spec.batch_size,
        "lr": spec.lr,
        "kl_weight": spec.kl_weight,
        "l1_weight": spec.l1_weight,
        "latent_shape": list(spec.latent_shape),
        **{key: round(value, 6) for key, value in stats.items()},
        "train_seconds": round(train_seconds, 1),
        "torch_threads": torch.get_num_threads(),
        "command": f"bench codec fit --codec {name} --steps {steps} --seed {seed}",
    }
    return vae, record


def codec_fit_command(
    codec: str = typer.Option(..., "--codec", help="Which codec: sd (4 x 16 x 16 latent) or cascade (16 x 4 x 4)."),
    steps: int = typer.Option(None, "--steps", help="Training steps. [default: the codec's recipe]"),
    out: Path = typer.Option(None, "--out", help="Folder for the weights. [default: the package's backbones/weights]"),
    seed: int = typer.Option(0, "--seed", help="Seed of the initial weights, data order and latent noise."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Train the tiny latent codec CODEC on builtin:shapes (64 px) and write <codec>_tiny_vae.{safetensors,json}.

    Prints the reconstruction PSNR on the eval split and the latent scaling factor; both go into the json.
    """
    from backbones.tiny_codec import codec_spec, save_codec

    spec = codec_spec(codec)
    steps = spec.steps if steps is None else steps
    if steps < 1:
        raise UserError(f"--steps must be at least 1, got {steps}")
    vae, record = fit_codec(spec.name, steps, seed, quiet)
    weights, info = save_codec(vae, spec.name, out, record)
    channels, height, width = spec.latent_shape
    typer.echo(
        f"codec {spec.name}: {spec.resolution} px -> {channels} x {height} x {width} latent (f={spec.factor}); "
        f"eval PSNR {record['psnr_db']:.2f} dB; scaling factor {record['scaling_factor']:.4f}; "
        f"{steps} steps in {record['train_seconds']:.0f} s"
    )
    typer.echo(f"wrote {weights} ({weights.stat().st_size / 1e6:.2f} MB) and {info}")
