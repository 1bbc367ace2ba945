"""A picture of a hint a person can judge: image | Canny channel | strokes over the image | stroke map."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

#: panels are enlarged (nearest neighbour) to at least this many pixels so tiny hints stay readable
MIN_PANEL = 256
LABEL_HEIGHT = 18


def _checkerboard(height: int, width: int, cell: int = 8) -> np.ndarray:
    yy, xx = np.mgrid[:height, :width]
    board = ((yy // cell + xx // cell) % 2).astype(np.float32)
    return np.repeat((0.75 + 0.15 * board)[:, :, None], 3, axis=2)


def hint_preview(image: np.ndarray, hint: np.ndarray) -> Image.Image:
    """Side-by-side panels of an RGB uint8 image and its ``5 x H x W`` hint, labelled, as a PIL image."""
    rgb = image.astype(np.float32) / 255.0
    strokes, alpha = np.moveaxis(hint[1:4], 0, -1), hint[4][:, :, None]
    faded = 0.35 * rgb + 0.65
    # the stroke map is premultiplied (colors fade with alpha where blurred): composite as "over"
    over = strokes + faded * (1.0 - alpha)
    on_board = strokes + _checkerboard(*alpha.shape[:2]) * (1.0 - alpha)
    edges = np.repeat(1.0 - hint[0][:, :, None], 3, axis=2)
    panels = [("image", rgb), ("canny edges", edges), ("strokes over image", over), ("stroke map", on_board)]
    scale = max(1, -(-MIN_PANEL // max(image.shape[:2])))
    height, width = image.shape[0] * scale, image.shape[1] * scale
    sheet = Image.new("RGB", (len(panels) * (width + 4) + 4, height + LABEL_HEIGHT + 4), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (label, panel) in enumerate(panels):
        pixels = (np.clip(panel, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        tile = Image.fromarray(pixels).resize((width, height), Image.NEAREST)
        x = 4 + i * (width + 4)
        sheet.paste(tile, (x, LABEL_HEIGHT))
        draw.text((x, 3), label, fill="black")
    return sheet
