"""Backbones by name, imported lazily: choosing `sd` never imports the Cascade or IF code.

Add a backbone by writing its module (a `backbones.base.Backbone` subclass) and one line in `_REGISTRY`.
"""

from __future__ import annotations

import importlib
from typing import Any

from bench.core.errors import UserError

#: name -> "module:ClassName"
_REGISTRY: dict[str, str] = {
    "sd": "backbones.sd_controlnet:SDControlNet",
    "cascade": "backbones.cascade:StableCascadeControl",
    "if": "backbones.deepfloyd_if:DeepFloydIF",
}


def backbone_names() -> list[str]:
    """The registered backbone names, sorted."""
    return sorted(_REGISTRY)


def get_backbone_class(name: str) -> Any:
    """The `Backbone` subclass registered as ``name``; an unknown name lists the valid ones."""
    if name not in _REGISTRY:
        valid = ", ".join(backbone_names()) or "none built yet"
        raise UserError(f"unknown backbone '{name}' (valid: {valid})")
    module_name, class_name = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def create_backbone(name: str, preset: str, resolution: int, overrides: dict[str, Any] | None = None) -> Any:
    """Build backbone ``name`` with the config of ``preset`` (plus ``model.*`` overrides) at ``resolution``."""
    cls = get_backbone_class(name)
    config = cls.config_class.from_preset(name, preset, overrides)
    return cls(config, resolution)
