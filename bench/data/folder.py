"""``folder:PATH``: a directory tree of images with captions, as people keep their own data.

Captions follow the Hugging Face imagefolder convention: a ``metadata.jsonl`` (or ``metadata.csv``) in any
directory names files relative to itself in ``file_name`` and gives the caption in ``text`` (or ``caption``).
An image without a metadata entry takes the caption of a same-name ``.txt`` file beside it, else none.
Keys are ``folder/<relative path>``, so moving the folder keeps them. Hidden files and folders are ignored.
"""

from __future__ import annotations

import csv
import functools
import json
from pathlib import Path

from bench.core.errors import UserError
from bench.data.options import SourceOptions
from bench.data.records import RecordSource, clean_caption
from bench.data.skips import SkippedItem

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
CAPTION_FIELDS = ("text", "caption")


def _metadata_rows(path: Path) -> list[dict[str, object]]:
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise UserError(f"{path}:{number} is not valid JSON; each line should be one object") from None
        if not isinstance(row, dict):
            raise UserError(f"{path}:{number} should be a JSON object with file_name and text")
        rows.append(row)
    return rows


def _read_metadata(root: Path) -> dict[str, str]:
    """Relative path -> caption from every metadata file under ``root``."""
    captions: dict[str, str] = {}
    for meta in sorted([*root.rglob("metadata.jsonl"), *root.rglob("metadata.csv")]):
        base = meta.parent.relative_to(root)
        for number, row in enumerate(_metadata_rows(meta), 1):
            name = row.get("file_name")
            if not isinstance(name, str) or not name:
                raise UserError(f"{meta}: entry {number} has no file_name")
            text = next((row[f] for f in CAPTION_FIELDS if f in row), None)
            captions[(base / name).as_posix()] = clean_caption(text)
    return captions


@functools.lru_cache(maxsize=4)
def _catalog(root: str) -> tuple[tuple[str, ...], dict[str, str]]:
    """(relative image paths, metadata captions) of the folder ``root``."""
    path = Path(root).expanduser()
    if not path.exists():
        raise UserError(f"folder not found: {root}")
    if not path.is_dir():
        raise UserError(f"{root} is not a folder; folder: takes a directory of images")
    files = []
    for file in path.rglob("*"):
        relative = file.relative_to(path)
        if file.suffix.lower() in IMAGE_SUFFIXES and not any(p.startswith(".") for p in relative.parts):
            if file.is_file():
                files.append(relative.as_posix())
    captions = _read_metadata(path)
    listed = set(files)
    missing = [name for name in captions if name not in listed]  # listed in metadata but absent: a counted skip
    if not files and not missing:
        raise UserError(f"folder {root} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return tuple(sorted(listed | set(missing))), captions


class FolderSource(RecordSource):
    """Images under one directory."""

    def __init__(self, root: str, split: str, resolution: int, options: SourceOptions) -> None:
        self.root = Path(root).expanduser()
        self.files, self.captions = _catalog(str(self.root.resolve()) if self.root.exists() else root)
        super().__init__(f"folder:{root}", [f"folder/{f}" for f in self.files], split, resolution, options)

    def describe_row(self, row: int) -> str:
        return str(self.root / self.files[row])

    def read_bytes(self, row: int) -> bytes:
        try:
            return (self.root / self.files[row]).read_bytes()
        except FileNotFoundError:
            raise SkippedItem("missing_file", self.describe_row(row)) from None
        except OSError as exc:
            raise SkippedItem("unreadable_file", f"{self.describe_row(row)} ({exc})") from None

    def read_caption(self, row: int) -> str:
        name = self.files[row]
        if name in self.captions:
            return self.captions[name]
        try:
            return clean_caption((self.root / name).with_suffix(".txt").read_text(encoding="utf-8", errors="replace"))
        except OSError:
            return ""


def open_folder(arg: str, split: str, resolution: int, size: int | None, options: SourceOptions) -> FolderSource:
    return FolderSource(arg, split, resolution, options)
