"""Atomic writes: a file is either the old version or the complete new one, never half written.

A kill at any moment (SIGKILL included) must not leave a truncated config, log or checkpoint behind, so every
result file is written to a temporary name in the same directory, flushed to disk, then renamed over the target.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_bytes(path: Path | str, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same directory + fsync + rename).

    ``durable=False`` skips the fsync, for files that can be recomputed (cache entries): a kill still leaves the
    old file or the new one; only a power cut may leave an empty file, which such a reader treats as missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path | str, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))
