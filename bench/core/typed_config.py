"""Typed coercion of TOML values and ``--set`` strings into dataclass fields, and TOML reading/writing.

One function (`coerce`) turns a value into a field's declared type or raises a one-line `UserError` naming
the key, so every config class of the project (the run's, the hint generator's, each backbone's) is checked
the same way before any expensive work starts.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from pathlib import Path
from typing import Any, Union

from bench.core.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def parse_scalar_text(text: str) -> Any:
    """Parse a ``--set`` value the way TOML would read it, falling back to the bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        pass
    if "," in text:  # "2,8" -> [2, 8] for tuple fields
        return [parse_scalar_text(part.strip()) for part in text.split(",")]
    return text


def coerce(value: Any, hint: Any, key: str) -> Any:
    """Return ``value`` converted to type ``hint`` or raise a one-line `UserError` naming ``key``."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        errors = []
        # try the most specific members first: int before tuple, None only for None
        for member in args:
            try:
                return coerce(value, member, key)
            except UserError as exc:
                errors.append(str(exc))
        raise UserError(f"{key}: {value!r} is not a valid {_type_name(hint)}")
    if hint is type(None):
        if value is None or value == "none":
            return None
        raise UserError(f"{key}: expected none, got {value!r}")
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0", "on", "off"):
            return value.lower() in ("true", "yes", "1", "on")
        raise UserError(f"{key}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str):
                try:
                    return int(value)
                except ValueError:
                    pass
            raise UserError(f"{key}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool):
            raise UserError(f"{key}: expected a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise UserError(f"{key}: expected a number, got {value!r}") from None
    if hint is str:
        if isinstance(value, str):
            return value
        raise UserError(f"{key}: expected a string, got {value!r}")
    if origin is tuple:
        if isinstance(value, str):
            value = parse_scalar_text(value)
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{key}: expected a list like [a, b], got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(v, args[0], key) for v in value)
        if len(value) != len(args):
            raise UserError(f"{key}: expected {len(args)} values, got {len(value)}")
        return tuple(coerce(v, a, key) for v, a in zip(value, args, strict=True))
    if origin in (list,):
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{key}: expected a list, got {value!r}")
        return [coerce(v, args[0], key) for v in value] if args else list(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise UserError(f"{key}: expected a table, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise UserError(f"{key}: expected a table of settings, got {value!r}")
        return update_dataclass(hint(), value, prefix=key)
    raise TypeError(f"unsupported config type {hint!r} for {key}")  # a bug in a config class


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def field_types(cls: type) -> dict[str, Any]:
    """The resolved type hints of a config dataclass's fields."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def update_dataclass(obj: Any, values: dict[str, Any], prefix: str = "") -> Any:
    """Return a copy of dataclass ``obj`` with ``values`` (possibly nested tables) applied and type-checked."""
    types_ = field_types(type(obj))
    changes: dict[str, Any] = {}
    for name, value in values.items():
        key = f"{prefix}.{name}" if prefix else name
        if name not in types_:
            raise UserError(f"unknown config key '{key}' (valid: {', '.join(sorted(types_))})")
        current = getattr(obj, name)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            changes[name] = update_dataclass(current, value, prefix=key)
        elif isinstance(current, dict) and isinstance(value, dict):
            changes[name] = {**current, **value}
        else:
            changes[name] = coerce(value, types_[name], key)
    try:
        return dataclasses.replace(obj, **changes)
    except ValueError as exc:  # a config class's own check (__post_init__) of a value combination
        raise UserError(str(exc)) from None


def load_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file, turning a missing or malformed file into one line."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise UserError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path} is not valid TOML: {exc}") from None


def to_dict(cfg: Any) -> dict[str, Any]:
    """A TOML-ready dict of a config dataclass (tuples become lists, None values are dropped)."""

    def clean(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items() if x is not None}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return clean(dataclasses.asdict(cfg))


def dumps_toml(cfg: Any) -> str:
    """Serialise a config dataclass to TOML text."""
    import tomli_w

    return tomli_w.dumps(to_dict(cfg))
