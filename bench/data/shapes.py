"""``builtin:shapes``: a procedural caption + image dataset made for stroke coloring.

Flat-colored and gradient shapes, some with dark outlines, overlapping on flat or gradient backgrounds, with
captions that say what is drawn ("an outlined red circle over a blue square on a yellow background"). Every
item is a pure function of (split, index): scenes are sampled from a seed derived from both, so the train and
eval splits never share an item, and any resolution renders the same scene.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image, ImageDraw

from bench.data.seeds import derive_seed

#: named colors (RGB) used for shapes, backgrounds and captions
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "orange": (245, 140, 30),
    "yellow": (245, 215, 50),
    "green": (50, 160, 70),
    "blue": (40, 90, 210),
    "purple": (130, 60, 170),
    "pink": (240, 130, 180),
    "brown": (130, 80, 40),
    "gray": (128, 128, 128),
    "cyan": (60, 200, 220),
    "white": (245, 245, 245),
    "black": (25, 25, 25),
}
KINDS = ("circle", "square", "rectangle", "triangle", "ellipse", "star", "diamond", "hexagon")
OUTLINE = (20, 20, 20)
SUPERSAMPLE = 2


@dataclass
class Shape:
    """One shape; geometry in units of the image side (0..1) so any resolution draws the same scene."""

    kind: str
    color: str
    center: tuple[float, float]
    size: float
    angle: float
    gradient_to: str | None = None
    outlined: bool = False


@dataclass
class Scene:
    """A background and shapes drawn bottom to top."""

    background: str
    background_to: str | None = None
    shapes: list[Shape] = field(default_factory=list)


def sample_scene(split: str, index: int) -> Scene:
    """The scene of item ``index`` of ``split``: deterministic, independent per (split, index)."""
    rng = np.random.default_rng(derive_seed("builtin:shapes", split, index))
    names = list(PALETTE)
    background = names[rng.integers(len(names))]
    background_to = names[rng.integers(len(names))] if rng.random() < 0.3 else None
    if background_to == background:
        background_to = None
    shapes = []
    for _ in range(int(rng.integers(1, 4))):
        color = background
        while color in (background, background_to):
            color = names[rng.integers(len(names))]
        gradient_to = names[rng.integers(len(names))] if rng.random() < 0.3 else None
        shapes.append(
            Shape(
                kind=KINDS[rng.integers(len(KINDS))],
                color=color,
                center=(float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.2, 0.8))),
                size=float(rng.uniform(0.18, 0.42)),
                angle=float(rng.uniform(0, 2 * np.pi)),
                gradient_to=None if gradient_to == color else gradient_to,
                outlined=bool(rng.random() < 0.4),
            )
        )
    return Scene(background, background_to, shapes)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def caption(scene: Scene) -> str:
    """Top-most shape first: "a red circle over a blue square on a yellow background"."""
    parts = []
    for shape in reversed(scene.shapes):
        color = f"{shape.color}-to-{shape.gradient_to} gradient" if shape.gradient_to else shape.color
        words = f"{'outlined ' if shape.outlined else ''}{color} {shape.kind}"
        parts.append(f"{_article(words)} {words}")
    if scene.background_to:
        ground = f"{_article(scene.background)} {scene.background}-to-{scene.background_to} gradient background"
    else:
        ground = f"{_article(scene.background)} {scene.background} background"
    return f"{' over '.join(parts)} on {ground}"


def _polygon(shape: Shape, side: float) -> list[tuple[float, float]]:
    cx, cy, r = shape.center[0] * side, shape.center[1] * side, shape.size * side / 2
    corners = {"triangle": 3, "square": 4, "diamond": 4, "hexagon": 6, "star": 10, "rectangle": 4}[shape.kind]
    angle = shape.angle + (np.pi / 4 if shape.kind == "square" else 0.0)
    points = []
    for k in range(corners):
        theta = angle + 2 * np.pi * k / corners
        radius = r * (0.45 if shape.kind == "star" and k % 2 else 1.0)
        if shape.kind == "rectangle":
            theta = angle + (0.55, np.pi - 0.55, np.pi + 0.55, 2 * np.pi - 0.55)[k]
        points.append((cx + radius * np.cos(theta), cy + radius * np.sin(theta)))
    return points


def _background(color_a: str, color_b: str | None, side: int) -> np.ndarray:
    """A flat or top-to-bottom gradient background, float32 ``side x side x 3``."""
    a = np.asarray(PALETTE[color_a], dtype=np.float32)
    if color_b is None:
        canvas = np.empty((side, side, 3), dtype=np.float32)
        canvas[:] = a
        return canvas
    b = np.asarray(PALETTE[color_b], dtype=np.float32)
    t = np.linspace(0.0, 1.0, side, dtype=np.float32)[:, None, None]
    return np.broadcast_to(a + (b - a) * t, (side, side, 3)).copy()


def _fill(shape: Shape, mask: np.ndarray, side: int) -> np.ndarray | tuple[int, int, int]:
    """The shape's color at its mask pixels: flat, or a ramp across the shape along its angle."""
    if shape.gradient_to is None:
        return PALETTE[shape.color]
    ys, xs = np.nonzero(mask)
    cx, cy, r = shape.center[0] * side, shape.center[1] * side, shape.size * side / 2
    along = ((xs - cx) * np.cos(shape.angle) + (ys - cy) * np.sin(shape.angle)) / (2 * r) + 0.5
    t = np.clip(along, 0.0, 1.0).astype(np.float32)[:, None]
    a = np.asarray(PALETTE[shape.color], dtype=np.float32)
    b = np.asarray(PALETTE[shape.gradient_to], dtype=np.float32)
    return a + (b - a) * t


def render(scene: Scene, resolution: int) -> np.ndarray:
    """The scene as RGB uint8 ``resolution x resolution`` (drawn supersampled, then area-downsampled)."""
    side = resolution * SUPERSAMPLE
    canvas = _background(scene.background, scene.background_to, side)
    outline_width = max(1, round(side / 48))
    for shape in scene.shapes:
        mask_image = Image.new("L", (side, side), 0)
        draw = ImageDraw.Draw(mask_image)
        if shape.kind in ("circle", "ellipse"):
            cx, cy, r = shape.center[0] * side, shape.center[1] * side, shape.size * side / 2
            ry = r * (0.6 if shape.kind == "ellipse" else 1.0)
            draw.ellipse([cx - r, cy - ry, cx + r, cy + ry], fill=255)
        else:
            draw.polygon(_polygon(shape, side), fill=255)
        mask = np.asarray(mask_image) > 0
        canvas[mask] = _fill(shape, mask, side)
        if shape.outlined:
            edge = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((outline_width,) * 2, np.uint8))
            canvas[edge > 0] = OUTLINE
    image = cv2.resize(canvas, (resolution, resolution), interpolation=cv2.INTER_AREA)
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)
