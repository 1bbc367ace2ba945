"""``hf:NAME[:split]``: a Hugging Face `datasets` dataset of images or of image URLs, with captions.

NAME is a Hub id (``conceptual_captions``; read from the local Hugging Face cache when offline) or a local
folder written by ``save_to_disk`` or readable by ``load_dataset``. A dataset with an image column is read
row by row with decoding switched off (our decoder converts or refuses odd images with a counted reason);
a dataset with a URL column (Conceptual Captions) is fetched like ``urls:`` through the URL cache. Columns
are found by their usual names or set with ``data.image_column``, ``data.caption_column``,
``data.url_column``. ``data.streaming=true`` streams the first ``train_size + eval_size`` rows instead of
downloading the whole dataset.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.core.errors import UserError
from bench.data.options import SourceOptions
from bench.data.records import RecordSource, clean_caption
from bench.data.skips import SkippedItem
from bench.data.urls import CAPTION_NAMES, URL_NAMES, UrlSource, pick_column

IMAGE_NAMES = ("image", "img", "jpg", "jpeg", "png", "webp", "picture")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _load(name: str, split: str, options: SourceOptions) -> Any:
    try:
        import datasets
    except ImportError:
        raise UserError("hf: sources need the datasets library (pip install datasets)") from None
    path = Path(name).expanduser()
    try:
        if path.is_dir() and any((path / f).exists() for f in ("dataset_dict.json", "state.json")):
            loaded = datasets.load_from_disk(str(path))
            if isinstance(loaded, datasets.DatasetDict):
                if split not in loaded:
                    raise UserError(f"dataset {name} has no split '{split}' (splits: {', '.join(loaded)})")
                loaded = loaded[split]
            return loaded
        return datasets.load_dataset(str(path) if path.exists() else name, split=split, streaming=options.streaming)
    except UserError:
        raise
    except Exception as exc:  # the library raises many types (hub, offline, file, split errors): all one line
        raise UserError(f"could not load Hugging Face dataset '{name}' split '{split}': {_first_line(exc)}") from None


def _image_column(dataset: Any, names: list[str], options: SourceOptions) -> str | None:
    import datasets

    if options.image_column:
        return pick_column(names, options.image_column, IMAGE_NAMES, "image", "the dataset")
    features = getattr(dataset, "features", None) or {}
    typed = [n for n in names if isinstance(features.get(n), datasets.Image)]
    return typed[0] if typed else next((n for n in IMAGE_NAMES if n in names), None)


@dataclass(frozen=True)
class HfCatalog:
    """What a dataset offers: image rows (``rows`` + column names) or URL rows (``urls`` + ``captions``)."""

    rows: Any = None
    image_column: str = ""
    caption_column: str = ""
    urls: tuple[Any, ...] = ()
    captions: tuple[Any, ...] = ()


@functools.lru_cache(maxsize=4)
def _catalog(name: str, split: str, options: SourceOptions) -> HfCatalog:
    import datasets

    dataset = _load(name, split, options)
    if options.streaming:
        first = next(iter(dataset), None)
        names = list(first) if first is not None else []
    else:
        names = list(dataset.column_names)
    image = None if options.url_column else _image_column(dataset, names, options)
    caption = pick_column(names, options.caption_column, CAPTION_NAMES, "caption", f"dataset {name}")
    if image is None:
        url = pick_column(names, options.url_column, URL_NAMES, "url", f"dataset {name} (no image column either)")
        if options.streaming:
            rows = _materialise(dataset, options)
            return HfCatalog(urls=tuple(r[url] for r in rows), captions=tuple(r[caption] for r in rows))
        return HfCatalog(urls=tuple(dataset[url]), captions=tuple(dataset[caption]))
    dataset = dataset.select_columns([image, caption])
    if isinstance((getattr(dataset, "features", None) or {}).get(image), datasets.Image):
        dataset = dataset.cast_column(image, datasets.Image(decode=False))
    rows = _materialise(dataset, options) if options.streaming else dataset
    return HfCatalog(rows=rows, image_column=image, caption_column=caption)


def _materialise(dataset: Any, options: SourceOptions) -> list[dict[str, Any]]:
    return list(itertools.islice(iter(dataset), options.train_size + options.eval_size))


class HfImageSource(RecordSource):
    """Rows of a dataset with an image column (encoded bytes or a file path per row)."""

    def __init__(
        self, name: str, catalog: HfCatalog, hf_split: str, split: str, resolution: int, options: SourceOptions
    ) -> None:
        self.catalog = catalog
        keys = [f"hf/{hf_split}/{i}" for i in range(len(catalog.rows))]
        super().__init__(name, keys, split, resolution, options)

    def read_bytes(self, row: int) -> bytes:
        cell = self.catalog.rows[row][self.catalog.image_column]
        if isinstance(cell, dict):
            if cell.get("bytes"):
                return cell["bytes"]
            if cell.get("path"):
                try:
                    return Path(cell["path"]).read_bytes()
                except OSError:
                    raise SkippedItem("missing_file", str(cell["path"])) from None
        if isinstance(cell, (bytes, bytearray)):
            return bytes(cell)
        raise SkippedItem("no_image", f"row {row} of {self.name}")

    def read_caption(self, row: int) -> str:
        return clean_caption(self.catalog.rows[row][self.catalog.caption_column])


def parse_arg(arg: str) -> tuple[str, str]:
    """``NAME[:split]`` -> (NAME, split), split "train" by default; a path that exists is taken whole."""
    if ":" not in arg or Path(arg).expanduser().exists():
        return arg, "train"
    name, _, split = arg.rpartition(":")
    return name, split or "train"


def open_hf(arg: str, split: str, resolution: int, size: int | None, options: SourceOptions) -> RecordSource:
    name, hf_split = parse_arg(arg)
    catalog = _catalog(name, hf_split, options)
    if catalog.rows is None:
        return UrlSource(f"hf:{arg}", catalog.urls, catalog.captions, split, resolution, options)
    return HfImageSource(f"hf:{arg}", catalog, hf_split, split, resolution, options)
