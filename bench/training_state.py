"""Saving and restoring everything a resumed run needs, without pickle.

Tensors (optimizer moments, RNG states, EMA weights) go to one safetensors file; the rest (step counters,
param groups, the data position, the budget meter) to JSON, with tensors referenced by name. Loading never
unpickles, so a checkpoint from anywhere is safe to open. Dict keys keep their types (optimizer state is keyed
by int), so the structure round-trips exactly.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from bench.core.atomic import write_text

TENSORS = "state.safetensors"
META = "state.json"


def _encode(obj: Any, name: str, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        tensors[name] = obj.detach().cpu().contiguous().clone()
        return {"__tensor__": name}
    if isinstance(obj, np.ndarray):
        tensors[name] = torch.from_numpy(np.ascontiguousarray(obj)).clone()
        return {"__ndarray__": name}
    if isinstance(obj, dict):
        return {
            "__dict__": [
                [_encode(k, f"{name}.k{i}", tensors), _encode(v, f"{name}.{i}", tensors)]
                for i, (k, v) in enumerate(obj.items())
            ]
        }
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, f"{name}.{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, f"{name}.{i}", tensors) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot save {type(obj).__name__} at {name} in a training state")


def _decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__ndarray__" in obj:
            return tensors[obj["__ndarray__"]].numpy()
        if "__dict__" in obj:
            return {_decode(k, tensors): _decode(v, tensors) for k, v in obj["__dict__"]}
        if "__tuple__" in obj:
            return tuple(_decode(v, tensors) for v in obj["__tuple__"])
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    return obj


def save_state(directory: Path, state: dict[str, Any]) -> None:
    """Write ``state`` (nested dicts/lists of tensors, arrays and scalars) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    encoded = _encode(state, "s", tensors)
    save_file(tensors, str(directory / TENSORS))
    write_text(directory / META, json.dumps(encoded))


def load_state(directory: Path) -> dict[str, Any]:
    """Read what `save_state` wrote."""
    tensors = load_file(str(directory / TENSORS))
    return _decode(json.loads((directory / META).read_text()), tensors)


def rng_state() -> dict[str, Any]:
    """The global RNG states the training step draws from (torch CPU/CUDA, numpy, Python)."""
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` returned."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class EMA:
    """Exponential moving average of the trainable weights (kept in float32 beside them)."""

    def __init__(self, parameters: list[torch.nn.Parameter], decay: float) -> None:
        self.parameters, self.decay = parameters, decay
        self.shadow = [p.detach().float().clone() for p in parameters]

    @torch.no_grad()
    def update(self) -> None:
        for shadow, param in zip(self.shadow, self.parameters, strict=True):
            shadow.lerp_(param.detach().float(), 1.0 - self.decay)

    @torch.no_grad()
    def swap(self) -> None:
        """Exchange live and averaged weights (call twice to undo): saving or sampling with the EMA."""
        for shadow, param in zip(self.shadow, self.parameters, strict=True):
            live = param.detach().clone()
            param.copy_(shadow.to(param.dtype))
            shadow.copy_(live.float())

    def state_dict(self) -> list[torch.Tensor]:
        return self.shadow

    def load_state_dict(self, shadow: list[torch.Tensor]) -> None:
        for mine, saved in zip(self.shadow, shadow, strict=True):
            mine.copy_(saved)
