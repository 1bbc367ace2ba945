"""The one interface every backbone implements, so the loop, eval and report never branch on a name.

A backbone owns everything model-specific: encoding the target (a latent codec or plain pixels), the noise
schedule, the loss weighting, the sampler, text conditioning and which weights train. The training loop only
calls ``model(batch)`` (= `training_loss`), steps an optimizer over `trainable_parameters`, and saves with
`save_trainable`; the eval harness only receives a sampling function built from `sample`.

Units: ``Batch.pixels`` are in [-1, 1]; hints and sample outputs are in [0, 1]; images are ``B x C x H x W``.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from backbones.hint_spread import check_spread_grids, hint_channels, spread_hint
from backbones.prediction import check_prediction
from backbones.timesteps import check_timestep_sampling
from bench.core.errors import UserError
from bench.core.typed_config import load_toml, update_dataclass

PRESET_DIR = Path(__file__).parent / "presets"


@dataclass
class Batch:
    """One micro-batch as the data path hands it to a backbone."""

    #: target images, ``B x 3 x H x W``, float32 in [-1, 1]
    pixels: torch.Tensor
    #: hints, ``B x 5 x H x W``, float32 in [0, 1]: [canny, r, g, b, alpha]
    hint: torch.Tensor
    #: one caption per image (may be empty)
    captions: list[str]
    #: stable sample keys (``shapes/train/17``); hints and eval splits are derived from them
    keys: list[str]

    def to(self, device: torch.device | str) -> Batch:
        """The same batch with its tensors on ``device``."""
        return dataclasses.replace(self, pixels=self.pixels.to(device), hint=self.hint.to(device))

    def __len__(self) -> int:
        return self.pixels.shape[0]


@dataclass
class BackboneConfig:
    """Base of every backbone's config dataclass; presets live in ``backbones/presets/<name>.toml``.

    Each preset file holds one table per preset (``[tiny]``, ``[full]``); a table lists only the fields that
    differ from the dataclass defaults.
    """

    #: "tiny" (small widths, random init or shipped tiny weights) or "full" (pretrained Hub weights)
    preset: str = "tiny"
    #: whether the base model trains together with the control module (tiny: yes, no pretrained base)
    train_base: bool = False
    #: False builds every module from its architecture config with random weights and reads no weight file:
    #: what `bench plan` uses (inside ``with torch.device("meta")``) to size the full preset without a download
    load_weights: bool = True
    #: how training draws noise levels: "uniform" (as the real systems were trained) or "cubic" (T2I-Adapter's
    #: bias to high noise, where colors are decided; see `backbones.timesteps`)
    timestep_sampling: str = "uniform"
    #: start the control module's output layers at zero (ControlNet's zero convolutions): they keep a pretrained
    #: base's prediction unchanged at first; where the base trains from scratch (tiny) they only delay the hint
    zero_init_control: bool = True
    #: what the denoiser predicts: "epsilon" (as the real systems were trained) or "v" (velocity: at the noisiest
    #: levels the target is the image, so colors must come from the hint; needs train_base; see
    #: `backbones.prediction`)
    prediction: str = "epsilon"
    #: with prediction = "v": the loss weight where the input is all noise (1 = the plain v loss, 0 = the epsilon
    #: loss's weighting); each level gets ``a^2 + w * b^2`` (`backbones.prediction.v_loss_weight`)
    high_noise_weight: float = 1.0
    #: threads a training step uses on a CPU (0: every core the data workers leave, at least 2); a step made of
    #: many small operations can run faster on one thread, which also leaves a core to the data worker
    cpu_threads: int = 0
    #: grids (cells per side) over which the control module also reads the strokes' mean colours (extra hint
    #: channels, see `backbones.hint_spread`); empty: the 5-channel hint alone (every `full` preset)
    hint_spread_grids: tuple[int, ...] = ()

    @property
    def control_hint_channels(self) -> int:
        """Input channels of the control module: the hint's and the spread grids' (`Backbone.control_hint`)."""
        return hint_channels(self.hint_spread_grids)

    @classmethod
    def from_preset(cls, backbone: str, preset: str, overrides: dict[str, Any] | None = None) -> Any:
        """The config of ``preset`` for ``backbone`` with ``model.*`` overrides applied and type-checked."""
        tables = load_toml(PRESET_DIR / f"{backbone}.toml")
        if preset not in tables:
            raise UserError(f"backbone '{backbone}' has no preset '{preset}' (valid: {', '.join(sorted(tables))})")
        cfg = update_dataclass(cls(preset=preset), tables[preset], prefix="model")
        cfg = update_dataclass(cfg, overrides or {}, prefix="model")
        try:
            check_timestep_sampling(cfg.timestep_sampling)
            check_prediction(cfg.prediction)
            check_spread_grids(cfg.hint_spread_grids)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        if not 0.0 <= cfg.high_noise_weight <= 1.0:
            raise UserError(f"model.high_noise_weight must be in [0, 1], got {cfg.high_noise_weight}")
        if cfg.prediction != "epsilon" and not cfg.train_base:
            raise UserError(
                f"model.prediction = {cfg.prediction!r} needs model.train_base = true: a pretrained base predicts the "
                "noise it was trained to predict"
            )
        return cfg


def revive_zero_layers(module: torch.nn.Module) -> int:
    """Re-initialise, with the layer's own default init, every layer of ``module`` whose weight is all zero.

    Why: ControlNet-style control modules start their output layers at zero so a pretrained base is untouched at
    step 0; with ``zero_init_control = False`` the backbones call this on their freshly built control module
    (inside their seeded init) so the hint reaches the prediction from the first step. Returns the layer count.
    """
    revived = 0
    for layer in module.modules():
        weight = getattr(layer, "weight", None)
        if isinstance(weight, torch.Tensor) and hasattr(layer, "reset_parameters") and not weight.any():
            layer.reset_parameters()
            revived += 1
    return revived


class Backbone(torch.nn.Module, ABC):
    """A diffusion backbone with a stroke-control module, trained and sampled through one interface.

    ``forward(batch)`` is `training_loss` so that accelerate / DDP wrappers see the training computation.
    """

    #: registry name: "sd", "cascade", "if"
    name: ClassVar[str]
    #: "latent" (diffusion in a codec's latent space) or "pixel"
    space: ClassVar[str]
    #: the backbone's config dataclass (a `BackboneConfig` subclass)
    config_class: ClassVar[type[BackboneConfig]]
    #: the run resolution must be a multiple of this (a latent codec's downsampling factor)
    resolution_multiple: ClassVar[int] = 1

    def __init__(self, config: BackboneConfig, resolution: int) -> None:
        super().__init__()
        if resolution % self.resolution_multiple:
            raise UserError(
                f"resolution {resolution} is not divisible by {self.resolution_multiple}, "
                f"which the '{self.name}' backbone needs; use e.g. --set data.resolution="
                f"{max(self.resolution_multiple, resolution // self.resolution_multiple * self.resolution_multiple)}"
            )
        self.config = config
        self.resolution = resolution

    def forward(self, batch: Batch) -> tuple[torch.Tensor, dict[str, Any]]:
        return self.training_loss(batch)

    def control_hint(self, hint: torch.Tensor) -> torch.Tensor:
        """The hint as the control module reads it: with the config's stroke-colour spread channels appended."""
        return spread_hint(hint, self.config.hint_spread_grids)

    @abstractmethod
    def training_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, Any]]:
        """Encode the target, noise it, predict, weight and reduce: a scalar loss and values to log.

        Log values are 0-d tensors or floats; return tensors (no ``.item()``) so that `bench plan` can run the
        step on the meta device: the loop converts them when it writes ``train.jsonl``.
        """

    @abstractmethod
    def trainable_parameters(self) -> Iterator[torch.nn.Parameter]:
        """The parameters the optimizer updates; every other parameter has ``requires_grad=False``."""

    @abstractmethod
    def sample(
        self,
        hints: torch.Tensor,
        prompts: list[str],
        *,
        steps: int,
        guidance: float,
        generator: torch.Generator,
    ) -> torch.Tensor:
        """Images ``B x 3 x H x W`` in [0, 1] at the run's resolution for hints ``B x 5 x H x W`` in [0, 1]."""

    @abstractmethod
    def save_trainable(self, directory: Path) -> None:
        """Write the trainable modules in diffusers ``save_pretrained`` format (safetensors) into ``directory``."""

    @abstractmethod
    def load_trainable(self, directory: Path) -> None:
        """Load what `save_trainable` wrote (safetensors only; never unpickles)."""

    def train(self, mode: bool = True) -> Backbone:
        """Train mode for trainable modules only: frozen parts stay in eval mode (no dropout, fixed norms)."""
        super().train(mode)
        if mode:
            trainable = {id(p) for p in self.trainable_parameters()}
            for module in self.modules():
                own = list(module.parameters(recurse=False))
                if own and not any(id(p) in trainable for p in own):
                    module.eval()
        return self

    def describe(self) -> dict[str, Any]:
        """Facts for run metadata and `bench plan`: parameter counts and the resolved config."""
        trainable = sum(p.numel() for p in self.trainable_parameters())
        total = sum(p.numel() for p in self.parameters())
        return {
            "backbone": self.name,
            "space": self.space,
            "parameters_total": total,
            "parameters_trainable": trainable,
            "config": dataclasses.asdict(self.config),
        }
