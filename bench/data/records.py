"""The shape every user-data source shares: keyed rows of encoded image + caption, split by key, decoded.

A user source (folder, Hugging Face dataset, URL table, WebDataset shards) only says how to list its rows
(a stable key each) and how to read one row's encoded bytes and caption. This base class does the rest the
same way for all: the fixed eval split (the ``eval_size`` keys with the smallest split hash, so it never
changes with the run seed and is disjoint from training by key), decoding through `bench.core.images`
(any odd image is converted or refused with a reason), the minimum-size rule, and resize + center crop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.core.errors import UserError
from bench.core.images import BadImage, decode_rgb, resize_center_crop
from bench.data.options import SourceOptions
from bench.data.seeds import derive_seed
from bench.data.skips import SkippedItem
from bench.data.sources import Example


def split_rows(keys: Sequence[str], split: str, eval_size: int, name: str) -> list[int]:
    """Row numbers of ``split``: eval = the ``eval_size`` distinct keys of smallest hash; train = all others."""
    first_row: dict[str, int] = {}
    for row, key in enumerate(keys):
        first_row.setdefault(key, row)
    if len(first_row) <= eval_size:
        raise UserError(
            f"data source {name} has {len(first_row)} distinct items; it needs more than data.eval_size={eval_size} "
            "(the eval split is drawn from it)"
        )
    ranked = sorted(first_row, key=lambda key: derive_seed("eval-split", key))
    held_out = set(ranked[:eval_size])
    if split == "eval":
        return [first_row[key] for key in ranked[:eval_size]]
    return [row for row, key in enumerate(keys) if key not in held_out]


def clean_caption(value: Any) -> str:
    """A caption cell as one stripped line: None -> "", a list -> its first non-empty text, bytes decoded."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, (list, tuple)):
        return next((c for c in (clean_caption(v) for v in value) if c), "")
    return " ".join(str(value).split())


class RecordSource:
    """A sequence of `Example`s over rows ``keys``; subclasses implement `read_bytes` and `read_caption`.

    ``remote`` sources (URLs) are read by many threads at once (`bench.data.prefetch`); others inline.
    """

    remote = False

    def __init__(self, name: str, keys: Sequence[str], split: str, resolution: int, options: SourceOptions) -> None:
        self.name, self.keys, self.resolution, self.options = name, keys, resolution, options
        self.rows = split_rows(keys, split, options.eval_size, name)

    def __len__(self) -> int:
        return len(self.rows)

    def read_bytes(self, row: int) -> bytes:
        """The encoded image of ``row``; raises `SkippedItem` when it cannot be had."""
        raise NotImplementedError

    def read_caption(self, row: int) -> str:
        """The caption of ``row`` ("" when it has none)."""
        raise NotImplementedError

    def captions(self) -> list[str]:
        """Every item's caption, read without its image (a row whose caption cannot be read gives none)."""
        out = []
        for row in self.rows:
            try:
                out.append(self.read_caption(row))
            except SkippedItem:
                continue
        return out

    def describe_row(self, row: int) -> str:
        """How error messages name ``row`` (a path, a URL, a shard member)."""
        return self.keys[row]

    def __getitem__(self, index: int) -> Example:
        if not 0 <= index < len(self.rows):
            raise IndexError(index)
        row = self.rows[index]
        data = self.read_bytes(row)
        try:
            draft = max(self.resolution, self.options.min_image_side)  # JPEG decodes at 1/2..1/8 scale, never below
            image = decode_rgb(data, self.describe_row(row), self.options.max_image_pixels, draft=draft)
        except BadImage as exc:
            raise SkippedItem(exc.reason, str(exc)) from None
        if min(image.shape[:2]) < self.options.min_image_side:
            raise SkippedItem("too_small", f"{self.describe_row(row)} is {image.shape[1]}x{image.shape[0]} pixels")
        return Example(resize_center_crop(image, self.resolution), self.read_caption(row), self.keys[row])
