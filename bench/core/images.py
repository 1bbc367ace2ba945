"""Reading user and dataset images robustly into RGB(A) uint8 arrays, and fitting them to a square.

Every image that enters strokebench passes through here, so odd files never reach a model: grayscale,
palette, CMYK, 16-bit and float images are converted; alpha is composited on white; EXIF rotation is
applied; decompression bombs (more pixels than `MAX_PIXELS`), truncated files and non-images become a
one-line `BadImage` (a `UserError`) naming the file, with a short ``reason`` a data source counts skips by.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import IO

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from bench.core.errors import UserError

#: refuse images above this many pixels (a 16k x 16k image); PIL's bomb check uses the same bound
MAX_PIXELS = 16384 * 16384


class BadImage(UserError):
    """An image that cannot be used; ``reason`` is ``not_image``, ``corrupt`` or ``too_many_pixels``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _decode(fp: IO[bytes] | Path, label: str, max_pixels: int, draft: int | None = None) -> Image.Image:
    """Open and fully decode ``fp``; the pixel count is checked from the header, before any decoding.

    ``draft`` lets JPEG decoding scale down by 1/2, 1/4 or 1/8 in the DCT while keeping both sides at least
    ``draft`` pixels: several times faster for a photo bound for a small training resolution.
    """
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(fp)
            if image.width * image.height > max_pixels:
                raise Image.DecompressionBombError(f"{image.width * image.height} pixels")
            if draft is not None and image.format == "JPEG" and image.mode in ("RGB", "L"):
                image.draft(image.mode, (draft, draft))
            image.load()
        return ImageOps.exif_transpose(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BadImage(
            "too_many_pixels", f"{label} has more than {max_pixels:,} pixels; refusing to decode it"
        ) from None
    except UnidentifiedImageError:
        if _has_image_signature(fp):  # some PIL versions cannot identify a truncated JPEG from its header
            raise BadImage("corrupt", f"{label} could not be decoded; is it truncated or corrupt?") from None
        raise BadImage("not_image", f"{label} is not an image file PIL can read") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BadImage("corrupt", f"{label} could not be decoded ({exc}); is it truncated or corrupt?") from None


#: the first bytes of the image formats a user's data holds (JPEG, PNG, GIF, BMP, WebP's RIFF container)
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"RIFF")


def _has_image_signature(fp: IO[bytes] | Path) -> bool:
    if isinstance(fp, Path):
        with open(fp, "rb") as fh:
            head = fh.read(16)
    else:
        fp.seek(0)
        head = fp.read(16)
    return head.startswith(_SIGNATURES)


def _open(path: Path | str) -> Image.Image:
    path = Path(path)
    if not path.exists():
        raise UserError(f"image not found: {path}")
    if path.is_dir():
        raise UserError(f"{path} is a directory, not an image file")
    return _decode(path, str(path), MAX_PIXELS)


def _pil_to_array(image: Image.Image) -> np.ndarray:
    """Any PIL mode as uint8 gray, gray+alpha, RGB or RGBA array (16-bit and float scaled to 8 bits)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        data = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or data.max() > 255 else 255.0
        return np.clip(data / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if image.mode == "F":
        return np.clip(np.asarray(image) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if image.mode in ("P", "PA"):
        image = image.convert("RGBA")
    elif image.mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    return np.asarray(image)


def to_rgb(array: np.ndarray) -> np.ndarray:
    """An image array (gray, gray+alpha, RGB, RGBA; uint8, uint16 or float in [0, 1]) as RGB uint8.

    Alpha is composited on white: a transparent background reads as paper, not as black.
    """
    array = np.asarray(array)
    if array.dtype == np.uint16:
        array = (array.astype(np.float64) / 65535.0 * 255.0 + 0.5).astype(np.uint8)
    elif array.dtype.kind == "f":
        array = (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif array.dtype != np.uint8:
        raise ValueError(f"unsupported image dtype {array.dtype}")
    if array.ndim == 2:
        array = array[:, :, None]
    channels = array.shape[2]
    if channels in (2, 4):
        alpha = array[:, :, -1:].astype(np.float32) / 255.0
        color = array[:, :, :-1].astype(np.float32)
        array = (color * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
        channels -= 1
    if channels == 1:
        array = np.repeat(array, 3, axis=2)
    elif channels != 3:
        raise ValueError(f"unsupported channel count {channels}")
    return np.ascontiguousarray(array)


def read_rgb(path: Path | str) -> np.ndarray:
    """The image at ``path`` as RGB uint8 ``H x W x 3`` (EXIF-rotated, alpha on white)."""
    return to_rgb(_pil_to_array(_open(path)))


def decode_rgb(data: bytes, label: str, max_pixels: int = MAX_PIXELS, draft: int | None = None) -> np.ndarray:
    """Encoded image bytes (from a URL, a tar shard, a dataset row) as RGB uint8 ``H x W x 3``.

    ``label`` names the item in error messages; ``draft`` see `_decode`. Raises `BadImage`.
    """
    return to_rgb(_pil_to_array(_decode(io.BytesIO(data), label, max_pixels, draft)))


def read_rgba(path: Path | str) -> np.ndarray:
    """The image at ``path`` as RGBA uint8 ``H x W x 4``; raises `UserError` when it has no alpha channel."""
    image = _open(path)
    if "A" not in image.getbands() and not (image.mode == "P" and "transparency" in image.info):
        raise UserError(f"{path} has no alpha channel; save the strokes as an RGBA PNG with a transparent background")
    return np.asarray(image.convert("RGBA"))


def resize_center_crop(image: np.ndarray, size: int, nearest: bool = False) -> np.ndarray:
    """Resize so the short side is ``size`` pixels, then center-crop to ``size x size``.

    ``nearest`` keeps exact colors (stroke maps); otherwise area filtering when shrinking (no aliasing) and
    bicubic when enlarging.
    """
    height, width = image.shape[:2]
    scale = size / min(height, width)
    new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
    if (new_h, new_w) != (height, width):
        interp = cv2.INTER_NEAREST if nearest else (cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        image = cv2.resize(image, (new_w, new_h), interpolation=interp)
        if image.ndim == 2:
            image = image[:, :, None]
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return np.ascontiguousarray(image[top : top + size, left : left + size])
