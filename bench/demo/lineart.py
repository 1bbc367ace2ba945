"""What the canvas holds: line art from built-in eval drawings or uploads, and strokes read back from its layers.

Uploads are checked before they are decoded (bytes, format, pixel count from the header), so a non-image or a
decompression bomb becomes a one-line `UserError` the page shows, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.core.errors import UserError
from bench.core.images import decode_rgb, resize_center_crop
from hints import CannyEdges, HintConfig

#: the canvas side a drawing is fitted into, in pixels: room to paint, whatever the run's resolution
CANVAS = 512


@dataclass(frozen=True)
class UploadLimits:
    """What an upload may be: at most ``max_bytes`` bytes and ``max_pixels`` pixels, each side ``min_side`` or more."""

    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 4096 * 4096
    min_side: int = 16


def display_scale(resolution: int) -> int:
    """Whole-number enlargement of a ``resolution`` px image that fills about the canvas (nearest neighbour)."""
    return max(1, round(CANVAS / resolution))


def edges_lineart(image: np.ndarray, resolution: int, hints: HintConfig) -> np.ndarray:
    """Black-on-white Canny edges of an RGB image at the model's ``resolution``, enlarged for painting.

    Edges are found at the model's resolution so that `load_user_hint` shrinking the canvas back finds the same
    lines, where thin lines found at canvas size would fade away in the shrinking.
    """
    square = resize_center_crop(image, resolution)
    lines = 255 - CannyEdges(hints.canny_low, hints.canny_high)(square)
    scale = display_scale(resolution)
    enlarged = np.kron(lines, np.ones((scale, scale), np.uint8))
    return np.repeat(enlarged[:, :, None], 3, axis=2)


def builtin_drawing(index: int, resolution: int, hints: HintConfig) -> tuple[np.ndarray, str]:
    """Line art and caption of built-in eval item ``index`` (`builtin:shapes`, the split runs are scored on)."""
    from bench.data.sources import open_source

    example = open_source("builtin:shapes", "eval", resolution, size=index + 1)[index]
    return edges_lineart(example.image, resolution, hints), example.caption


def _accepted_format(data: bytes) -> bool:
    """Whether the file starts like a PNG, a JPEG or a WebP image (the formats the page accepts)."""
    webp = data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    return data.startswith(b"\x89PNG\r\n\x1a\n") or data.startswith(b"\xff\xd8\xff") or webp


def read_upload(path: Path, limits: UploadLimits) -> np.ndarray:
    """An uploaded PNG, JPEG or WebP file as RGB uint8, refusing anything too big, too small or not an image."""
    name = Path(path).name
    size = Path(path).stat().st_size
    if size > limits.max_bytes:
        raise UserError(f"{name} is {size / 2**20:.1f} MB; upload an image of at most {limits.max_bytes / 2**20:g} MB")
    data = Path(path).read_bytes()
    if not _accepted_format(data):
        raise UserError(f"{name} is not a PNG, JPEG or WebP image; upload a drawing or a photo in one of those")
    image = decode_rgb(data, name, max_pixels=limits.max_pixels)
    height, width = image.shape[:2]
    if min(height, width) < limits.min_side:
        raise UserError(f"{name} is {width}x{height} pixels; upload an image at least {limits.min_side} px each side")
    return image


def fit_canvas(image: np.ndarray) -> np.ndarray:
    """An uploaded drawing scaled so its long side is the canvas side, keeping its shape."""
    height, width = image.shape[:2]
    scale = CANVAS / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


def uploaded_lineart(path: Path, photo: bool, resolution: int, hints: HintConfig, limits: UploadLimits) -> np.ndarray:
    """Line art of an upload: a drawing as it is (fitted to the canvas), a photo as its Canny edges."""
    image = read_upload(path, limits)
    return edges_lineart(image, resolution, hints) if photo else fit_canvas(image)


def editor_value(lineart: np.ndarray) -> dict[str, Any]:
    """An ImageEditor value holding ``lineart`` as its background and no strokes."""
    return {"background": lineart, "layers": [], "composite": None}


def _rgba(layer: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    layer = np.asarray(layer)
    if layer.ndim != 3 or layer.shape[2] != 4 or layer.shape[:2] != shape:
        raise UserError("the canvas sent a stroke layer of another size than the drawing; reload the drawing")
    return layer.astype(np.uint8)


def drawing_and_strokes(value: dict[str, Any] | None) -> tuple[np.ndarray, np.ndarray]:
    """The line art (RGB) and the painted strokes (RGBA, alpha > 0 where painted) of an ImageEditor value.

    Strokes come from the layers' alpha, composited bottom to top ("over"), never from diffing images.
    """
    if not value or value.get("background") is None:
        raise UserError("there is no drawing on the canvas yet; pick a built-in drawing or upload one")
    background = np.asarray(value["background"])
    shape = background.shape[:2]
    lineart = background[:, :, :3] if background.ndim == 3 else np.repeat(background[:, :, None], 3, axis=2)
    strokes = np.zeros((*shape, 4), np.float32)
    for layer in value.get("layers") or []:
        top = _rgba(layer, shape).astype(np.float32) / 255.0
        alpha = top[:, :, 3:]
        out_alpha = alpha + strokes[:, :, 3:] * (1.0 - alpha)
        color = top[:, :, :3] * alpha + strokes[:, :, :3] * strokes[:, :, 3:] * (1.0 - alpha)
        strokes[:, :, :3] = np.where(out_alpha > 0, color / np.maximum(out_alpha, 1e-6), 0.0)
        strokes[:, :, 3:] = out_alpha
    return np.ascontiguousarray(lineart), (strokes * 255.0 + 0.5).astype(np.uint8)
