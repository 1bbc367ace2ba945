"""Run configuration: dataclasses, TOML presets, and validated ``section.field=value`` overrides.

Why dataclasses and not a framework: the whole configuration is one small tree of typed fields; typing the
values once (here) lets every TOML file and every ``--set`` override be checked against the same types and
rejected with one line naming the bad key, before any expensive work starts.

Resolution order, later wins: field defaults < preset TOML (``bench/presets/<preset>.toml``) < ``--config
FILE`` < ``--set`` overrides. The resolved config is written into the run directory as ``config.toml`` and
read back from there by ``bench eval`` / ``bench train --resume``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.core.errors import UserError
from bench.core.typed_config import (
    coerce,
    dumps_toml,
    field_types,
    load_toml,
    parse_scalar_text,
    to_dict,
    update_dataclass,
)
from hints.config import HintConfig

__all__ = ["coerce", "dumps_toml", "field_types", "load_toml", "to_dict", "update_dataclass"]

PRESET_DIR = Path(__file__).parent / "presets"


@dataclass
class DataConfig:
    """Where training images come from and how they are shaped into batches."""

    #: data spec: ``builtin:shapes``, ``builtin:photos``, ``folder:PATH`` ...
    source: str = "builtin:shapes"
    #: square training/eval resolution in pixels (images are resized on the short side and center-cropped)
    resolution: int = 64
    #: images per micro-batch on one device
    batch_size: int = 8
    #: data-loader worker processes (0 = load in the training process)
    num_workers: int = 1
    #: number of training items of a procedural source (``builtin:shapes``)
    train_size: int = 20000
    #: number of items of the fixed eval split
    eval_size: int = 16
    #: user sources (``hf:``, ``urls:``): column names, "" = detect from the usual names
    image_column: str = ""
    caption_column: str = ""
    url_column: str = ""
    #: ``hf:`` only: stream the dataset instead of downloading it (reads train_size + eval_size rows)
    streaming: bool = False
    #: on-disk cache of fetched URL bodies ("" = ``$STROKEBENCH_CACHE`` or ``~/.cache/strokebench``)
    cache_dir: str = ""
    #: URL fetching (``urls:``, ``wds:`` over http, ``hf:`` URL columns): concurrency, limits and retries
    fetch_threads: int = 64
    fetch_timeout_s: float = 10.0
    fetch_retries: int = 2
    fetch_backoff_s: float = 0.5
    max_image_bytes: int = 20_000_000
    max_image_pixels: int = 50_000_000
    min_image_side: int = 32
    #: stop the run when more than this share of the items tried could not be used
    max_failure_share: float = 0.5
    #: training captions' colour words: keep, drop, or the probability of dropping them per sample (a caption
    #: that names every region's colour lets a model ignore the strokes; see bench/data/captions.py)
    caption_colors: str = "keep"


@dataclass
class OptimConfig:
    """Optimizer and training-step settings shared by every backbone."""

    lr: float = 1e-4
    weight_decay: float = 0.0
    #: images per optimizer step; gradient accumulation = effective_batch / (batch_size x processes)
    effective_batch: int = 8
    warmup_steps: int = 20
    #: how the rate anneals over the end of the budget: constant, linear or cosine (see bench/lr_schedule.py)
    lr_decay: str = "constant"
    #: share of the budget, at its end, over which the rate anneals to zero (1.0: the whole run after warmup)
    decay_share: float = 1.0
    #: max global gradient norm (0 = no clipping)
    grad_clip: float = 1.0
    #: EMA decay of the trainable weights (0 = no EMA)
    ema_decay: float = 0.0
    #: accelerate mixed precision: "no", "fp16" or "bf16"
    mixed_precision: str = "no"
    #: bitsandbytes 8-bit Adam (GPU only)
    use_8bit_adam: bool = False

    def __post_init__(self) -> None:
        from bench.lr_schedule import check_decay

        check_decay(self.lr_decay, self.decay_share)


@dataclass
class BudgetConfig:
    """The training budget in dollars of reference-GPU (A10) time; see ``bench/budget.py``."""

    #: dollars of reference-GPU time a run may spend on training
    usd: float = 0.0001
    #: hourly price of the reference GPU, dollars
    price_per_hour: float = 0.75
    #: the reference GPU the budget is priced in
    reference_gpu: str = "A10"
    #: checkpoint every this fraction of the budget (0.1 = at 10 %, 20 %, ...)
    mark_every: float = 0.1
    #: "auto", "wallclock" (on the reference GPU), "device_factor" (other GPU) or "flops" (no GPU)
    method: str = "auto"
    #: assumed fraction of the reference GPU's peak FLOP/s reached, for the "flops" method
    utilisation: float = 0.4
    #: optional TOML file with measured device factors, overriding the built-in profile table
    calibration_file: str = ""


@dataclass
class EvalConfig:
    """How the fixed eval split is sampled."""

    steps: int = 20
    guidance: float = 3.0
    #: seed of the eval hints and of the sampling noise; fixed so every run is scored on the same inputs
    seed: int = 1234


@dataclass
class LogConfig:
    """Where training logs go besides ``train.jsonl``."""

    #: "none", "tensorboard" or "wandb": an experiment tracker through accelerate's tracker API (`bench.trackers`)
    report_to: str = "none"


@dataclass
class RunConfig:
    """Everything that defines a run. Backbone-specific settings live in ``model`` (checked by the backbone)."""

    backbone: str = "sd"
    preset: str = "tiny"
    seed: int = 0
    #: write a train.jsonl line every this many optimizer steps
    log_every: int = 1
    data: DataConfig = field(default_factory=DataConfig)
    hints: HintConfig = field(default_factory=HintConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    log: LogConfig = field(default_factory=LogConfig)
    #: overrides of the backbone preset's fields (validated against the backbone's config class)
    model: dict[str, Any] = field(default_factory=dict)


def parse_override(text: str) -> tuple[list[str], str]:
    """Split ``section.field=value`` into (["section", "field"], "value")."""
    if "=" not in text:
        raise UserError(f"--set {text!r}: expected section.field=value, e.g. --set optim.lr=1e-5")
    key, value = text.split("=", 1)
    path = [p for p in key.strip().split(".") if p]
    if not path:
        raise UserError(f"--set {text!r}: the key before '=' is empty")
    return path, value.strip()


def apply_overrides(cfg: RunConfig, overrides: list[str]) -> RunConfig:
    """Apply ``--set`` strings. ``model.*`` keys are kept as text-parsed values for the backbone to check."""
    for text in overrides:
        path, raw = parse_override(text)
        if path[0] == "model":
            if len(path) != 2:
                raise UserError(f"--set {text!r}: model settings are model.<field>=value")
            cfg = dataclasses.replace(cfg, model={**cfg.model, path[1]: parse_scalar_text(raw)})
            continue
        nested: Any = raw
        for part in reversed(path[1:]):
            nested = {part: nested}
        cfg = update_dataclass(cfg, {path[0]: nested})
    return cfg


def preset_names() -> list[str]:
    """Names of the run presets shipped in ``bench/presets``."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def resolve_config(
    backbone: str | None = None,
    preset: str | None = None,
    config_file: Path | None = None,
    overrides: list[str] | None = None,
) -> RunConfig:
    """Build the run's config: defaults < preset < config file < overrides (< explicit backbone/preset)."""
    file_values = load_toml(config_file) if config_file else {}
    preset = preset or file_values.get("preset") or RunConfig.preset
    if preset not in preset_names():
        raise UserError(f"unknown preset '{preset}' (valid: {', '.join(preset_names())})")
    cfg = update_dataclass(RunConfig(), load_toml(PRESET_DIR / f"{preset}.toml"))
    cfg = update_dataclass(cfg, file_values)
    cfg = dataclasses.replace(cfg, preset=preset)
    if backbone:
        cfg = dataclasses.replace(cfg, backbone=backbone)
    cfg = apply_overrides(cfg, overrides or [])
    given = "guidance" in file_values.get("eval", {}) or any(
        o.split("=")[0].strip() == "eval.guidance" for o in overrides or []
    )
    return cfg if given else _makers_guidance(cfg)


def _makers_guidance(cfg: RunConfig) -> RunConfig:
    """``eval.guidance`` as the backbone's makers sample it (its preset's ``model.default_guidance``, where set)."""
    from backbones import backbone_names, get_backbone_class

    if cfg.backbone not in backbone_names():
        return cfg  # an unknown name fails where the backbone is built, with the valid names
    preset = get_backbone_class(cfg.backbone).config_class.from_preset(cfg.backbone, cfg.preset)
    guidance = float(cfg.model.get("default_guidance", preset.default_guidance))  # the rest is checked at build
    return cfg if guidance <= 0 else dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, guidance=guidance))


def read_run_config(path: Path) -> RunConfig:
    """Read a run directory's resolved ``config.toml`` back into a `RunConfig`."""
    return update_dataclass(RunConfig(), load_toml(path))
