"""Settings of the user-data sources (``folder:``, ``hf:``, ``urls:``, ``wds:``) and of URL fetching.

One frozen dataclass so every source reads the same names, and so an opened source can be cached by its
settings. `SourceOptions.from_config` takes each field from the run's ``data`` config section when that
section has a field of the same name, so ``--set data.fetch_threads=64`` reaches the fetcher without the
config knowing about sources.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.core.errors import UserError
from bench.core.images import MAX_PIXELS as _USER_MAX_PIXELS


def default_cache_dir() -> Path:
    """Where fetched URL bodies are kept: ``$STROKEBENCH_CACHE`` or ``~/.cache/strokebench``, + ``/urls``."""
    root = os.environ.get("STROKEBENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "strokebench"
    )
    return Path(root) / "urls"


@dataclass(frozen=True)
class SourceOptions:
    """How user data is read. Empty column names mean "detect from the usual names"."""

    #: items of the fixed eval split (drawn by key, disjoint from training)
    eval_size: int = 16
    #: column holding encoded images (``hf:``)
    image_column: str = ""
    #: column holding captions (``hf:``, ``urls:``)
    caption_column: str = ""
    #: column holding image URLs (``hf:``, ``urls:``)
    url_column: str = ""
    #: ``hf:`` only: stream the dataset instead of downloading it (reads train_size + eval_size rows)
    streaming: bool = False
    #: rows a streamed dataset is cut to, besides the eval split (other user sources use every item)
    train_size: int = 20000
    #: on-disk cache of fetched URL bodies ("" = `default_cache_dir`)
    cache_dir: str = ""
    #: concurrent URL requests per loading process
    fetch_threads: int = 64
    #: seconds a request may take (connect, each read, and the whole body)
    fetch_timeout_s: float = 10.0
    #: extra attempts after a 5xx, a timeout or a dropped connection (never after a 4xx)
    fetch_retries: int = 2
    #: first retry waits this long; each further retry waits twice as long
    fetch_backoff_s: float = 0.5
    #: largest body accepted per image, bytes
    max_image_bytes: int = 20_000_000
    #: largest decoded image accepted, pixels (a decompression bomb is refused from its header)
    max_image_pixels: int = min(_USER_MAX_PIXELS, 50_000_000)
    #: images whose short side is smaller than this many pixels are skipped (1x1 tracking pixels)
    min_image_side: int = 32
    #: stop when more than this share of the items tried failed
    max_failure_share: float = 0.5

    def __post_init__(self) -> None:
        positive = ("fetch_threads", "fetch_timeout_s", "max_image_bytes", "max_image_pixels", "min_image_side")
        for name in positive:
            if getattr(self, name) <= 0:
                raise UserError(f"data.{name} must be more than 0, got {getattr(self, name)}")
        if self.fetch_retries < 0 or self.fetch_backoff_s < 0 or self.eval_size < 0:
            raise UserError("data.fetch_retries, data.fetch_backoff_s and data.eval_size must not be negative")
        if not 0.0 <= self.max_failure_share <= 1.0:
            raise UserError(f"data.max_failure_share must be between 0 and 1, got {self.max_failure_share}")

    @classmethod
    def from_config(cls, data_config: Any) -> SourceOptions:
        """The options named in a ``DataConfig`` (fields it lacks keep their defaults here)."""
        values = {f.name: getattr(data_config, f.name) for f in dataclasses.fields(cls) if hasattr(data_config, f.name)}
        return cls(**values)

    def resolved_cache_dir(self) -> Path:
        return Path(self.cache_dir).expanduser() if self.cache_dir else default_cache_dir()
