"""``wds:PATTERN``: WebDataset tar shards, the format large image-text sets ship in, read by random access.

A shard is a plain tar whose members are grouped into samples by key (``dir/000017.jpg`` and
``dir/000017.txt`` form sample ``dir/000017``). The loader addresses items by (epoch, index), so shards are
indexed once (member offsets from the tar headers, no data read) and each item is one seek + read: resuming
mid-epoch costs nothing and every worker reads any item. PATTERN takes braces (``shard-{000..009}.tar``,
``{a,b}``) and globs. Captions come from a ``txt``/``text``/``caption`` member or a ``json`` member's
``caption``/``text`` field. Compressed shards (``.tar.gz``) cannot be read by random access and are refused.
Keys are ``wds/<shard file name>/<sample key>``.
"""

from __future__ import annotations

import functools
import glob
import json
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from bench.core.errors import UserError
from bench.data.options import SourceOptions
from bench.data.records import RecordSource, clean_caption
from bench.data.skips import SkippedItem

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif")
CAPTION_EXTENSIONS = ("txt", "text", "caption", "json")
_BRACE = re.compile(r"\{([^{}]*)\}")


def expand_braces(pattern: str) -> list[str]:
    """``a{0..2}b{x,y}`` -> a0bx a0by a1bx ...; ranges keep the zero padding of their first bound."""
    match = _BRACE.search(pattern)
    if match is None:
        return [pattern]
    body = match.group(1)
    if ".." in body:
        low, high = body.split("..", 1)
        if not (low.isdigit() and high.isdigit()):
            raise UserError(f"wds pattern {pattern!r}: a range must be {{low..high}} with digits")
        choices = [str(i).zfill(len(low)) for i in range(int(low), int(high) + 1)]
    else:
        choices = body.split(",")
    head, tail = pattern[: match.start()], pattern[match.end() :]
    return [expanded for choice in choices for expanded in expand_braces(head + choice + tail)]


def shard_paths(pattern: str) -> list[str]:
    """The existing shard files named by ``pattern`` (braces, then globs), in order."""
    if pattern.startswith(("http://", "https://", "s3://", "gs://", "pipe:")):
        raise UserError(f"wds shards must be local files; download {pattern} first")
    paths: list[str] = []
    for expanded in expand_braces(str(Path(pattern).expanduser())):
        matches = sorted(glob.glob(expanded)) if glob.has_magic(expanded) else [expanded]
        paths.extend(matches)
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if missing[1:] else ""
        raise UserError(f"wds shard not found: {missing[0]}{more}")
    if not paths:
        raise UserError(f"wds pattern {pattern!r} names no shard files")
    compressed = [p for p in paths if not p.endswith(".tar")]
    if compressed:
        raise UserError(f"{compressed[0]} is not a plain .tar shard; random access needs uncompressed tar files")
    return paths


@dataclass(frozen=True)
class Member:
    """Where one tar member's bytes are: shard number, byte offset, size, and its extension."""

    shard: int
    offset: int
    size: int
    extension: str


def _split_name(name: str) -> tuple[str, str]:
    """``dir/000017.seg.jpg`` -> ("dir/000017", "seg.jpg"), the WebDataset grouping rule."""
    folder, _, base = name.rpartition("/")
    stem, _, extension = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), extension.lower()


@functools.lru_cache(maxsize=4)
def _index(paths: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[Member | None, ...], tuple[Member | None, ...]]:
    """(keys, image member, caption member) of every sample in ``paths``."""
    keys: list[str] = []
    images: list[Member | None] = []
    captions: list[Member | None] = []
    for shard, path in enumerate(paths):
        samples: dict[str, dict[str, Member]] = {}
        try:
            with tarfile.open(path, "r:") as tar:
                for info in tar:
                    if not info.isfile() or info.name.startswith(".") or "/." in info.name:
                        continue
                    key, extension = _split_name(info.name)
                    samples.setdefault(key, {})[extension] = Member(shard, info.offset_data, info.size, extension)
        except (tarfile.TarError, OSError) as exc:
            raise UserError(f"{path} is not a readable tar shard ({exc})") from None
        for key, members in samples.items():
            keys.append(f"wds/{Path(path).name}/{key}")
            images.append(next((members[e] for e in IMAGE_EXTENSIONS if e in members), None))
            captions.append(next((members[e] for e in CAPTION_EXTENSIONS if e in members), None))
    if not keys:
        raise UserError(f"the wds shards ({paths[0]} ...) hold no samples")
    return tuple(keys), tuple(images), tuple(captions)


class WdsSource(RecordSource):
    """Samples of a set of tar shards."""

    def __init__(self, pattern: str, split: str, resolution: int, options: SourceOptions) -> None:
        self.paths = tuple(shard_paths(pattern))
        keys, self.images, self.captions = _index(self.paths)
        super().__init__(f"wds:{pattern}", keys, split, resolution, options)

    def _read(self, member: Member) -> bytes:
        with open(self.paths[member.shard], "rb") as fh:
            fh.seek(member.offset)
            data = fh.read(member.size)
        if len(data) != member.size:
            raise SkippedItem("truncated_shard", f"{self.paths[member.shard]} ends inside a member")
        return data

    def read_bytes(self, row: int) -> bytes:
        member = self.images[row]
        if member is None:
            raise SkippedItem("no_image", f"sample {self.keys[row]} has no image member")
        return self._read(member)

    def read_caption(self, row: int) -> str:
        member = self.captions[row]
        if member is None:
            return ""
        try:
            data = self._read(member)
        except SkippedItem:
            return ""
        if member.extension != "json":
            return clean_caption(data)
        try:
            record = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return ""
        if not isinstance(record, dict):
            return ""
        return clean_caption(next((record[f] for f in ("caption", "text") if f in record), None))


def open_wds(arg: str, split: str, resolution: int, size: int | None, options: SourceOptions) -> WdsSource:
    return WdsSource(arg, split, resolution, options)
