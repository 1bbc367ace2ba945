"""Tiny local fixtures for the user-data sources: odd image files, a folder, a dataset, URL tables, tar shards.

Everything is made on the fly from a few generated pictures; nothing is downloaded.
"""

from __future__ import annotations

import dataclasses
import io
import json
import struct
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from bench.config import DataConfig, RunConfig


def picture(seed: int, size: tuple[int, int] = (40, 48)) -> np.ndarray:
    """A smooth RGB uint8 picture ``size`` = (height, width), different per seed."""
    height, width = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = rng.integers(0, 256, 3)
    slope = rng.uniform(-3, 3, (2, 3))
    image = base + y[..., None] * slope[0] + x[..., None] * slope[1]
    return np.clip(image, 0, 255).astype(np.uint8)


def encode(image: Image.Image | np.ndarray, fmt: str, **kw: object) -> bytes:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kw)
    return buffer.getvalue()


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header that claims ``width x height`` pixels (a decompression bomb's calling card)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def odd_images() -> dict[str, bytes]:
    """Name -> encoded bytes of every kind of image the readers must convert or refuse."""
    rgb = picture(0)
    rgba = np.zeros((40, 48, 4), np.uint8)
    rgba[10:20, 10:30] = (255, 0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated by 90 degrees
    jpeg, png = encode(rgb, "JPEG"), encode(rgb, "PNG")
    return {
        "good.jpg": jpeg,
        "good.png": png,
        "gray.png": encode(rgb[:, :, 0], "PNG"),
        "palette.png": encode(Image.fromarray(rgb).convert("P"), "PNG"),
        "cmyk.jpg": encode(Image.fromarray(rgb).convert("CMYK"), "JPEG"),
        "g16.png": encode(Image.fromarray((np.arange(40 * 48).reshape(40, 48) * 27).astype(np.uint16)), "PNG"),
        "rgba.png": encode(rgba, "PNG"),
        "exif.jpg": encode(rgb, "JPEG", exif=exif),
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "truncated.png": png[: len(png) // 2],
        "corrupt.jpg": jpeg[:20] + bytes(np.random.default_rng(1).integers(0, 256, 400, dtype=np.uint8)),
        "page.jpg": b"<!doctype html><html><body>404 not found</body></html>",
        "bomb.png": png_bomb(),
        "one.png": encode(rgb[:1, :1], "PNG"),
    }


#: what the readers make of `odd_images`: a skip reason, or None for a usable image
ODD_OUTCOMES = {
    "good.jpg": None,
    "good.png": None,
    "gray.png": None,
    "palette.png": None,
    "cmyk.jpg": None,
    "g16.png": None,
    "rgba.png": None,
    "exif.jpg": None,
    "truncated.jpg": "corrupt",
    "truncated.png": "corrupt",
    "corrupt.jpg": "corrupt",
    "page.jpg": "not_image",
    "bomb.png": "too_many_pixels",
    "one.png": "too_small",
}


def write_folder(root: Path, count: int, captions: str = "jsonl") -> Path:
    """``count`` PNGs in ``root`` (half in a subfolder) with captions from metadata.jsonl or .txt files."""
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(count):
        name = f"{'sub/' if i % 2 else ''}img{i:03d}.png"
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_bytes(encode(picture(i), "PNG"))
        if captions == "jsonl":
            lines.append(json.dumps({"file_name": name, "text": f"picture number {i}"}))
        else:
            (root / name).with_suffix(".txt").write_text(f"picture number {i}\n")
    if lines:
        (root / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    return root


def write_shards(root: Path, count: int, shards: int = 2) -> str:
    """``count`` samples (jpg + txt, every third with a json caption instead) in ``shards`` tar files."""
    root.mkdir(parents=True, exist_ok=True)
    per = -(-count // shards)
    for shard in range(shards):
        with tarfile.open(root / f"shard-{shard:03d}.tar", "w") as tar:
            for i in range(shard * per, min(count, (shard + 1) * per)):
                members = {f"s{i:05d}.jpg": encode(picture(i), "JPEG")}
                if i % 3:
                    members[f"s{i:05d}.txt"] = f"picture number {i}".encode()
                else:
                    members[f"s{i:05d}.json"] = json.dumps({"caption": f"picture number {i}"}).encode()
                for name, data in members.items():
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return str(root / f"shard-{{000..{shards - 1:03d}}}.tar")


def write_hf_dataset(root: Path, count: int) -> Path:
    """A local `datasets` dataset (``save_to_disk``) with an image and a text column."""
    import datasets

    features = datasets.Features({"image": datasets.Image(), "text": datasets.Value("string")})
    data = {
        "image": [Image.fromarray(picture(i)) for i in range(count)],
        "text": [f"picture {i}" for i in range(count)],
    }
    datasets.Dataset.from_dict(data, features=features).save_to_disk(str(root))
    return root


@dataclass
class FastFetchData(DataConfig):
    """A data section with the URL settings a test wants (what `SourceOptions.from_config` picks up)."""

    fetch_timeout_s: float = 0.5
    fetch_retries: int = 1
    fetch_backoff_s: float = 0.01
    fetch_threads: int = 8
    min_image_side: int = 8
    max_failure_share: float = 0.5
    cache_dir: str = ""


def with_data(cfg: RunConfig, **fields: object) -> RunConfig:
    """``cfg`` whose data section is a `FastFetchData` with ``fields`` set."""
    return dataclasses.replace(cfg, data=FastFetchData(**{**dataclasses.asdict(cfg.data), **fields}))
