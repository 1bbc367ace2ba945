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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch

from backbones.hint_spread import check_spread_grids, hint_channels, spread_hint
from backbones.prediction import check_prediction
from backbones.timesteps import check_timestep_sampling
from bench.core.errors import UserError
from bench.core.typed_config import load_toml, update_dataclass

PRESET_DIR = Path(__file__).parent / "presets"
#: the dtypes a frozen part may be kept in (``weight_dtype``)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
#: the file ``save_pretrained`` writes a module's weights to
WEIGHTS_FILE = "diffusion_pytorch_model.safetensors"
Module = TypeVar("Module", bound=torch.nn.Module)


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
    #: dtype of the frozen parts (`DTYPES`); trained weights stay float32 under accelerate's autocast
    weight_dtype: str = "float32"
    #: recompute activations in the backward pass (less memory, more FLOPs), in the base and the control module
    gradient_checkpointing: bool = False
    #: probability of training on the empty caption (what makes classifier-free guidance possible)
    caption_dropout: float = 0.1
    #: classifier-free guidance its makers sample this system with; where > 0 it is the run's ``eval.guidance``
    #: unless a config file or ``--set eval.guidance`` gives one (0: the run preset's)
    default_guidance: float = 0.0
    #: seed of the frozen tiny parts' initialisation (the control module is seeded with ``init_seed + 1``)
    init_seed: int = 0

    #: the ``weight_dtype`` values this backbone accepts, and what a refused one is told
    weight_dtypes: ClassVar[tuple[str, ...]] = tuple(DTYPES)

    def __post_init__(self) -> None:
        if self.weight_dtype not in self.weight_dtypes:
            raise ValueError(
                f"model.weight_dtype must be one of {', '.join(self.weight_dtypes)}, got {self.weight_dtype!r}"
            )
        if not 0.0 <= self.caption_dropout <= 1.0:
            raise ValueError(f"model.caption_dropout must be in [0, 1], got {self.caption_dropout}")

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


def unet_with_residuals(
    unet: Any, x: torch.Tensor, t: torch.Tensor, text: torch.Tensor, residuals: tuple[Any, torch.Tensor]
) -> torch.Tensor:
    """A diffusers UNet's prediction with a ControlNet-style module's (down, mid) residuals added, in its dtype."""
    dtype, (down, mid) = unet.dtype, residuals
    return unet(
        x.to(dtype),
        t,
        encoder_hidden_states=text.to(dtype),
        down_block_additional_residuals=[d.to(dtype) for d in down],
        mid_block_additional_residual=mid.to(dtype),
        return_dict=False,
    )[0]


def cast_quietly(module: torch.nn.Module, dtype: torch.dtype) -> None:
    """``module.to(dtype)`` without diffusers' notice about modules kept in float32 (the bases here have none)."""
    from diffusers.utils import logging as diffusers_logging

    previous = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()
    try:
        module.to(dtype=dtype)
    finally:
        diffusers_logging.set_verbosity(previous)


def load_module(module: torch.nn.Module, path: Path, what: str, backbone: str) -> None:
    """Copy the safetensors file ``path`` into ``module``; any mismatch is one `UserError` sentence."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise UserError(f"no {what} weights at {path} (was the checkpoint written by the '{backbone}' backbone?)")
    own = module.state_dict()
    device = next(iter(own.values())).device if own else torch.device("cpu")
    try:
        state = load_file(str(path), device=str(device))
    except (SafetensorError, OSError) as exc:
        raise UserError(f"the {what} weights at {path} cannot be read ({exc}): is the file complete?") from None
    missing, unexpected = own.keys() - state.keys(), state.keys() - own.keys()
    reshaped = [k for k in own.keys() & state.keys() if own[k].shape != state[k].shape]
    if missing or unexpected or reshaped:
        raise UserError(
            f"the {what} at {path.parent} does not match this run's '{backbone}' model ({len(missing)} missing, "
            f"{len(unexpected)} unexpected, {len(reshaped)} reshaped weights): was it trained with another preset, "
            "resolution or settings?"
        )
    module.load_state_dict(state)


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

    def trainable_parameters(self) -> Iterator[torch.nn.Parameter]:
        """The parameters the optimizer updates; every other parameter has ``requires_grad=False``.

        Default: the control module given to `configure_weights`, plus its base where ``train_base`` says.
        """
        control, base = self._trained
        yield from control.parameters()
        if self.config.train_base:
            yield from base.parameters()

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
        """Train mode for trainable modules only: frozen parts stay in eval mode (no dropout, fixed norms).

        A module counts as frozen when it holds parameters and none of them trains; everything inside it, its
        parameter-free Dropout layers included, goes to eval mode, so a frozen base is deterministic.
        """
        super().train(mode)
        if mode:
            trainable = {id(p) for p in self.trainable_parameters()}

            def freeze(module: torch.nn.Module) -> None:
                params = [id(p) for p in module.parameters()]
                if params and trainable.isdisjoint(params):
                    module.eval()
                    return
                for child in module.children():
                    freeze(child)

            for child in self.children():
                freeze(child)
        return self

    # -- the machinery every backbone shares ---------------------------------------------------------------
    def prepare_captions(self, captions: Iterable[str]) -> int:
        """Precompute what the text encoder makes of ``captions`` before a loop; returns how many were new.

        The trainer and eval call it once with every caption they know of; a backbone whose text encoder is too
        large to keep beside the base (IF's T5) fills its cache here. Default: nothing to do.
        """
        return 0

    def drop_captions(self, captions: list[str]) -> list[str]:
        """``captions`` with each replaced by "" with probability ``caption_dropout`` (for guidance)."""
        if self.config.caption_dropout <= 0:
            return captions
        keep = torch.rand(len(captions)) >= self.config.caption_dropout
        return [c if k else "" for c, k in zip(captions, keep.tolist(), strict=True)]

    def build_control(self, build: Callable[[], Module]) -> Module:
        """The control module ``build()`` makes, seeded by ``init_seed + 1`` (identical in every process);
        with ``zero_init_control = False`` its zero-initialised layers start live (`revive_zero_layers`)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.init_seed + 1)
            control = build()
            if not self.config.zero_init_control:
                revive_zero_layers(control)
        return control

    def configure_weights(
        self,
        base: torch.nn.Module,
        control: torch.nn.Module,
        frozen: Iterable[torch.nn.Module] = (),
        kept_float32: Iterable[torch.nn.Module] = (),
    ) -> None:
        """Which weights train and in which dtype: ``control`` trains; ``base`` trains where ``train_base`` says
        (in float32) and is frozen with ``frozen`` in ``weight_dtype`` otherwise; ``kept_float32`` is frozen in
        float32 (an encoder whose targets must be exact); gradient checkpointing where the config asks."""
        self._trained = (control, base)  # a tuple: not registered again as submodules
        dtype = DTYPES[self.config.weight_dtype]
        for module in (*frozen, *(() if self.config.train_base else (base,))):
            module.requires_grad_(False)
            cast_quietly(module, dtype)
        for module in kept_float32:
            module.requires_grad_(False)
            cast_quietly(module, torch.float32)
        if self.config.train_base:
            cast_quietly(base, torch.float32)
        base.requires_grad_(self.config.train_base)
        control.requires_grad_(True)
        if self.config.gradient_checkpointing:
            control.enable_gradient_checkpointing()
            base.enable_gradient_checkpointing()

    def load_module(self, module: torch.nn.Module, directory: Path, what: str, file: str = WEIGHTS_FILE) -> None:
        """Copy ``directory/file`` (safetensors, as `save_trainable` wrote it) into ``module``: a missing file or
        weights of another architecture (names or shapes) is one sentence, never a traceback."""
        load_module(module, Path(directory) / file, what, self.name)

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
