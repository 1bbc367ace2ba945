"""Data specs -> sources of (image, caption, key) examples, all shaped the same way.

A spec is ``KIND:ARG``: ``builtin:shapes``, ``builtin:photos`` (offline, made here), ``folder:PATH``,
``hf:NAME[:split]``, ``urls:FILE`` and ``wds:PATTERN`` (the user's data, `bench.data.records` and one module
each). A source is a sequence: ``len(source)`` and ``source[i]`` -> `Example` with the image already resized
(short side) and center-cropped to the run's square resolution. A user source may raise
`bench.data.skips.SkippedItem` for an item it cannot deliver; the loader substitutes and counts it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from bench.core.errors import UserError
from bench.core.images import resize_center_crop
from bench.data import photos, shapes

if TYPE_CHECKING:
    from bench.data.options import SourceOptions

SPLITS = ("train", "eval")


@dataclass
class Example:
    """One item: RGB uint8 ``H x W x 3`` image, its caption (may be empty), and a stable key."""

    image: np.ndarray
    caption: str
    key: str


class Source(Protocol):
    """What the loader needs from a data source."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Example: ...

    def captions(self) -> list[str]:
        """Every item's caption, read without the images (what a text encoder precomputes)."""
        ...


class ShapesSource:
    """``builtin:shapes``: ``size`` procedural items of one split at ``resolution``."""

    def __init__(self, split: str, resolution: int, size: int) -> None:
        self.split, self.resolution, self.size = split, resolution, size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> Example:
        if not 0 <= index < self.size:
            raise IndexError(index)
        scene = shapes.sample_scene(self.split, index)
        return Example(shapes.render(scene, self.resolution), shapes.caption(scene), f"shapes/{self.split}/{index}")

    def captions(self) -> list[str]:
        """Every item's caption, without rendering the images."""
        return [shapes.caption(shapes.sample_scene(self.split, i)) for i in range(self.size)]


class PhotosSource:
    """``builtin:photos``: scikit-image's photographs; an eval set whose train split is the same items."""

    def __init__(self, resolution: int, size: int | None) -> None:
        self.names = list(photos.PHOTOS)[: size or None]
        self.resolution = resolution

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> Example:
        name = self.names[index]
        image = resize_center_crop(photos.load_photo(name), self.resolution)
        return Example(image, photos.PHOTOS[name], f"photos/{name}")

    def captions(self) -> list[str]:
        """Every item's caption, without loading the photographs."""
        return [photos.PHOTOS[name] for name in self.names]


def _open_builtin(arg: str, split: str, resolution: int, size: int | None, options: SourceOptions) -> Source:
    if arg == "shapes":
        return ShapesSource(split, resolution, size or (20000 if split == "train" else 64))
    if arg == "photos":
        return PhotosSource(resolution, size)
    raise UserError(f"unknown built-in dataset 'builtin:{arg}' (valid: builtin:shapes, builtin:photos)")


def _lazy(module: str, function: str) -> Callable[[str, str, int, int | None, SourceOptions], Source]:
    """An opener imported on first use (``hf:`` pulls in `datasets`; the others need nothing at startup)."""

    def opener(arg: str, split: str, resolution: int, size: int | None, options: SourceOptions) -> Source:
        import importlib

        return getattr(importlib.import_module(module), function)(arg, split, resolution, size, options)

    return opener


#: spec kind -> opener(arg, split, resolution, size, options); ``size`` sizes procedural sources only
SOURCE_KINDS: dict[str, Callable[[str, str, int, int | None, SourceOptions], Source]] = {
    "builtin": _open_builtin,
    "folder": _lazy("bench.data.folder", "open_folder"),
    "hf": _lazy("bench.data.hf", "open_hf"),
    "urls": _lazy("bench.data.urls", "open_urls"),
    "wds": _lazy("bench.data.wds", "open_wds"),
}


def parse_spec(spec: str) -> tuple[str, str]:
    """``"builtin:shapes"`` -> ("builtin", "shapes"), with a one-line error for a malformed or unknown kind."""
    kind, sep, arg = spec.partition(":")
    if not sep or not arg:
        raise UserError(f"data spec '{spec}' should look like KIND:ARG, e.g. builtin:shapes")
    if kind not in SOURCE_KINDS:
        raise UserError(f"unknown data source kind '{kind}:' (valid: {', '.join(k + ':' for k in SOURCE_KINDS)})")
    return kind, arg


def open_source(
    spec: str,
    split: str = "train",
    resolution: int = 64,
    size: int | None = None,
    options: SourceOptions | None = None,
) -> Source:
    """The source named by ``spec``, its ``split`` ("train" or "eval") at ``resolution`` pixels.

    ``size`` is the item count of a procedural source (``builtin:shapes``); user sources use every item
    (their eval split holds ``options.eval_size`` of them). ``options`` default to `SourceOptions()`.
    """
    from bench.data.options import SourceOptions

    if split not in SPLITS:
        raise UserError(f"unknown split '{split}' (valid: {', '.join(SPLITS)})")
    if resolution < 8:
        raise UserError(f"resolution must be at least 8 pixels, got {resolution}")
    kind, arg = parse_spec(spec)
    return SOURCE_KINDS[kind](arg, split, resolution, size, options or SourceOptions())


def load_example(spec: str, resolution: int = 256) -> Example:
    """One built-in item: ``builtin:photos/astronaut`` (native size), ``builtin:shapes/eval/3`` (at resolution)."""
    kind, arg = parse_spec(spec)
    name, _, rest = arg.partition("/")
    if kind == "builtin" and name == "photos" and rest in photos.PHOTOS:
        return Example(photos.load_photo(rest), photos.PHOTOS[rest], f"photos/{rest}")
    if kind == "builtin" and name == "shapes":
        split, _, index = rest.partition("/")
        if split in SPLITS and index.isdigit():
            scene = shapes.sample_scene(split, int(index))
            return Example(shapes.render(scene, resolution), shapes.caption(scene), f"shapes/{split}/{index}")
    raise UserError(f"unknown item '{spec}' (e.g. builtin:shapes/eval/3, builtin:photos/<{'|'.join(photos.PHOTOS)}>)")
