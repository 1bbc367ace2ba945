"""``urls:FILE``: a table of image URL + caption (parquet, jsonl, csv or tsv), images fetched while loading.

This is how large caption sets ship (Conceptual Captions is a headerless ``caption<TAB>url`` tsv, others are
parquet): the table is small, the images are fetched during training through the URL cache (see
`bench.data.url_cache`), by many requests at once (see `bench.data.prefetch`). Columns are found by their
usual names (``url``, ``image_url``; ``caption``, ``text``, ...) or set with ``data.url_column`` /
``data.caption_column``; a headerless csv/tsv takes the column whose cells start with ``http`` as the URL.
Keys are ``url/<hash of the URL>``: the same image URL has the same key in every file and every run.
"""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.core.errors import UserError
from bench.data.fetch import FetchPolicy
from bench.data.options import SourceOptions
from bench.data.records import RecordSource, clean_caption
from bench.data.skips import SkippedItem
from bench.data.url_cache import CachedFetcher, UrlCache

URL_NAMES = ("url", "image_url", "URL", "img_url", "imageurl", "link")
CAPTION_NAMES = ("caption", "text", "TEXT", "prompt", "content", "alt", "title", "description")
TABLE_SUFFIXES = (".parquet", ".jsonl", ".json", ".csv", ".tsv")


def url_key(url: str) -> str:
    """The stable key of an image URL."""
    return "url/" + hashlib.sha256(url.encode("utf-8")).hexdigest()[:20]


def pick_column(names: Sequence[str], wanted: str, usual: Sequence[str], what: str, where: str) -> str:
    """``wanted`` when set (and present), else the first usual name present; one-line error otherwise."""
    if wanted:
        if wanted not in names:
            raise UserError(f"{where} has no column '{wanted}' for the {what} (columns: {', '.join(names)})")
        return wanted
    found = next((n for n in usual if n in names), None)
    if found is None:
        raise UserError(
            f"{where} has no {what} column among {', '.join(usual)} (columns: {', '.join(names)}); "
            f"name it with --set data.{what}_column=NAME"
        )
    return found


def _open_text(path: Path) -> io.TextIOBase:
    raw = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")


def _read_delimited(path: Path, delimiter: str) -> dict[str, list[Any]]:
    with _open_text(path) as fh:
        rows = [r for r in csv.reader(fh, delimiter=delimiter) if r]
    if not rows:
        return {}
    headerless = any(cell.strip().lower().startswith(("http://", "https://")) for cell in rows[0])
    names = [str(i) for i in range(len(rows[0]))] if headerless else [c.strip() for c in rows[0]]
    body = rows if headerless else rows[1:]
    if headerless:  # name the URL column "url" and the first other column "caption"
        url_at = next(i for i, cell in enumerate(rows[0]) if cell.strip().lower().startswith(("http://", "https://")))
        names[url_at] = "url"
        other = next((i for i in range(len(names)) if i != url_at), None)
        if other is not None:
            names[other] = "caption"
    return {name: [r[i] if i < len(r) else None for r in body] for i, name in enumerate(names)}


def _read_jsonl(path: Path) -> dict[str, list[Any]]:
    records = []
    with _open_text(path) as fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    raise UserError(f"{path}:{number} is not valid JSON; each line should be one object") from None
    names = list(dict.fromkeys(k for r in records if isinstance(r, dict) for k in r))
    return {n: [r.get(n) if isinstance(r, dict) else None for r in records] for n in names}


def _read_parquet(path: Path, wanted: Sequence[str]) -> dict[str, list[Any]]:
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
        keep = [n for n in wanted if n in names] or names
        return pq.read_table(path, columns=keep).to_pydict()
    except (OSError, ValueError) as exc:
        raise UserError(f"{path} is not a readable parquet file ({exc})") from None


def read_table(path: Path, options: SourceOptions) -> tuple[list[Any], list[Any]]:
    """(urls, captions) of a URL table file."""
    if not path.is_file():
        raise UserError(f"URL table not found: {path}")
    kind = path.suffix if path.suffix != ".gz" else Path(path.stem).suffix
    if kind == ".parquet":
        columns = _read_parquet(path, [options.url_column, options.caption_column, *URL_NAMES, *CAPTION_NAMES])
    elif kind in (".jsonl", ".json"):
        columns = _read_jsonl(path)
    elif kind in (".csv", ".tsv"):
        columns = _read_delimited(path, "\t" if kind == ".tsv" else ",")
    else:
        raise UserError(f"{path}: a URL table must be one of {', '.join(TABLE_SUFFIXES)} (optionally .gz)")
    if not columns or not next(iter(columns.values())):
        raise UserError(f"URL table {path} has no rows")
    names = list(columns)
    url_column = pick_column(names, options.url_column, URL_NAMES, "url", str(path))
    caption_column = pick_column(names, options.caption_column, CAPTION_NAMES, "caption", str(path))
    return columns[url_column], columns[caption_column]


class UrlSource(RecordSource):
    """Rows of (URL, caption); the image bytes come through the URL cache."""

    remote = True

    def __init__(
        self,
        name: str,
        urls: Sequence[Any],
        captions: Sequence[Any],
        split: str,
        resolution: int,
        options: SourceOptions,
    ) -> None:
        self.urls = [u.strip() if isinstance(u, str) else "" for u in urls]
        self.captions = captions
        self.fetcher = CachedFetcher(UrlCache(options.resolved_cache_dir()), FetchPolicy.from_options(options))
        super().__init__(name, [url_key(u) for u in self.urls], split, resolution, options)

    def describe_row(self, row: int) -> str:
        return self.urls[row]

    def read_bytes(self, row: int) -> bytes:
        if not self.urls[row]:
            raise SkippedItem("missing_url", f"row {row} of {self.name}")
        return self.fetcher(self.urls[row])

    def read_caption(self, row: int) -> str:
        return clean_caption(self.captions[row])


@functools.lru_cache(maxsize=4)
def _table(path: str, options: SourceOptions) -> tuple[list[Any], list[Any]]:
    return read_table(Path(path), options)


def open_urls(arg: str, split: str, resolution: int, size: int | None, options: SourceOptions) -> UrlSource:
    path = Path(arg).expanduser()
    urls, captions = _table(str(path.resolve()), options)
    return UrlSource(f"urls:{arg}", urls, captions, split, resolution, options)
