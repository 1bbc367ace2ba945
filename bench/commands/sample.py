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
    import dataclasses

    import torch

    from backbones import create_backbone
    from backbones.base import Batch
    from bench.config import read_run_config
    from bench.rundir import CONFIG, RunDir
    from bench.sampling import sample_batch, to_uint8, write_png
    from hints import load_user_hint

    if out.suffix.lower() != ".png":
        raise UserError(f"--out {out}: the image is written as PNG; give a .png file name")
    if (steps is not None and steps < 1) or (guidance is not None and guidance < 0):
        raise UserError("--steps must be >= 1 and --guidance >= 0")
    run = RunDir(run_dir)
    run.require_run()
    cfg = read_run_config(run.file(CONFIG))
    chosen = run.checkpoint(checkpoint)
    hint = torch.from_numpy(load_user_hint(lineart, strokes, cfg.data.resolution, cfg.hints))
    backbone = create_backbone(cfg.backbone, cfg.preset, cfg.data.resolution, cfg.model)
    backbone.load_trainable(chosen.control)
    backbone.eval()
    eval_cfg = dataclasses.replace(
        cfg.eval,
        steps=steps or cfg.eval.steps,
        guidance=cfg.eval.guidance if guidance is None else guidance,
        seed=seed,
    )
    size = cfg.data.resolution
    batch = Batch(torch.zeros(1, 3, size, size), hint[None], [prompt], ["user"])
    image = sample_batch(backbone, batch, dataclasses.replace(cfg, eval=eval_cfg))
    write_png(out, to_uint8(image)[0])
    typer.echo(f"wrote {out} ({size}x{size} px) with {chosen.name} of {run.path}")
