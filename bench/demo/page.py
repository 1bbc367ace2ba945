"""The gradio page: line art on a canvas, strokes painted over it, one output per loaded run side by side.

Each run's coloring is its own event with a concurrency limit of one, so requests queue one at a time per
model while different models work at once. Handlers turn a `UserError` into a message in the page.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.coloring import LoadedRun, color_drawing
from bench.core.errors import UserError
from bench.demo.lineart import UploadLimits, builtin_drawing, drawing_and_strokes, editor_value, uploaded_lineart
from bench.sampling import hint_picture

#: colors of the brush palette (a color picker offers any other)
PALETTE = ["#e53935", "#fb8c00", "#fdd835", "#43a047", "#00acc1", "#1e88e5", "#8e24aa", "#6d4c41", "#212121"]
#: built-in eval drawings offered in the picker
BUILTIN_COUNT = 12
PHOTO = "a photo: use its edges"
#: small model outputs fill their box, enlarged with hard pixel edges rather than blurred; the editor's own
#: "clear canvas" would remove the drawing too, so only the page's "Clear strokes" is offered
CSS = (
    ".pixelated img { width: 100%; height: 100%; object-fit: contain; image-rendering: pixelated; }\n"
    '#canvas button[aria-label="Clear canvas"] { display: none; }'
)


@dataclass
class Result:
    """What the page shows for one run: the colored image, the hint it saw, and how long it took (seconds)."""

    image: np.ndarray
    hint: np.ndarray
    seconds: float


def run_label(loaded: LoadedRun) -> str:
    """Backbone, checkpoint and the dollars of A10 time it was trained on."""
    return f"{loaded.cfg.backbone} · {loaded.checkpoint.name} · ${loaded.checkpoint.usd:.4g} of A10 time"


def color_canvas(
    loaded: LoadedRun, value: dict[str, Any] | None, caption: str, seed: int, steps: int, guidance: float
) -> Result:
    """The page's coloring function: the canvas's line art and stroke layers through `bench sample`'s path."""
    lineart, strokes = drawing_and_strokes(value)
    start = time.perf_counter()
    colored = color_drawing(
        loaded, lineart, strokes, caption or "", steps=int(steps), guidance=float(guidance), seed=int(seed)
    )
    return Result(colored.image, hint_picture(colored.hint), time.perf_counter() - start)


def _message(exc: UserError) -> str:
    return f"**Could not use that:** {exc}"


def build_page(runs: list[LoadedRun], limits: UploadLimits | None = None) -> Any:
    """The page as a `gradio.Blocks` over loaded runs (their models stay loaded while it serves)."""
    import gradio as gr

    if not runs:
        raise UserError("the page needs at least one run to color with")
    limits = limits or UploadLimits()
    first = runs[0].cfg
    resolution, hints = max(r.cfg.data.resolution for r in runs), first.hints
    first_art, first_caption = builtin_drawing(0, resolution, hints)

    def load_builtin(index: int) -> tuple[Any, Any, str]:
        art, caption = builtin_drawing(min(max(int(index or 0), 0), BUILTIN_COUNT - 1), resolution, hints)
        return editor_value(art), caption, ""

    def load_upload(path: str | None, kind: str) -> tuple[Any, str]:
        if not path:
            return gr.update(), ""
        try:
            return editor_value(uploaded_lineart(Path(path), kind == PHOTO, resolution, hints, limits)), ""
        except UserError as exc:
            return gr.update(), _message(exc)

    def clear(value: dict[str, Any] | None) -> tuple[Any, str]:
        try:
            return editor_value(drawing_and_strokes(value)[0]), ""
        except UserError as exc:
            return gr.update(), _message(exc)

    def colorer(loaded: LoadedRun, with_hint: bool) -> Callable[..., tuple[Any, ...]]:
        def color(value: dict[str, Any] | None, caption: str, seed: float, steps: float, guidance: float) -> Any:
            try:
                result = color_canvas(loaded, value, caption, int(seed or 0), int(steps), float(guidance))
            except UserError as exc:
                raise gr.Error(str(exc)) from None
            seconds = f"colored in {result.seconds:.2f} s"
            return (result.image, result.hint, seconds) if with_hint else (result.image, seconds)

        return color

    with gr.Blocks(title="strokebench: color your drawing", analytics_enabled=False) as page:
        gr.Markdown(
            "## Color your drawing\nPick or upload a drawing, paint a few color strokes on it, and press **Color**: "
            "every loaded run colors it from the same hint."
        )
        with gr.Row():
            with gr.Column(scale=3):
                with gr.Row():
                    drawing = gr.Dropdown(
                        [(f"{i}: {builtin_drawing(i, resolution, hints)[1]}", i) for i in range(BUILTIN_COUNT)],
                        value=0,
                        label="built-in eval drawing",
                    )
                    upload = gr.File(
                        label=f"or upload a drawing or photo (PNG, JPEG, WebP; {limits.max_bytes / 2**20:g} MB)",
                        file_types=[".png", ".jpg", ".jpeg", ".webp"],
                        type="filepath",
                        elem_id="upload",
                    )
                    kind = gr.Radio(["line art", PHOTO], value="line art", label="the upload is")
                editor = gr.ImageEditor(
                    value=editor_value(first_art),
                    type="numpy",
                    image_mode="RGBA",
                    sources=[],
                    transforms=[],
                    brush=gr.Brush(colors=PALETTE, default_color=PALETTE[0], color_mode="defaults", default_size=12),
                    eraser=gr.Eraser(default_size=16),
                    layers=gr.LayerOptions(allow_additional_layers=False),
                    format="png",
                    canvas_size=first_art.shape[1::-1],
                    label="paint color strokes over the lines",
                    elem_id="canvas",
                )
                status = gr.Markdown(elem_id="status")
            with gr.Column(scale=1):
                caption = gr.Textbox(first_caption, label="caption (what the picture shows)")
                seed = gr.Number(0, precision=0, label="seed")
                steps = gr.Slider(1, max(100, first.eval.steps), value=first.eval.steps, step=1, label="steps")
                guidance = gr.Slider(
                    0, max(15, first.eval.guidance), value=first.eval.guidance, step=0.5, label="guidance"
                )
                color_button = gr.Button("Color", variant="primary", elem_id="color")
                clear_button = gr.Button("Clear strokes")
        with gr.Row():
            hint = gr.Image(
                label="the hint as the model sees it",
                format="png",
                buttons=["download"],
                elem_classes="pixelated",
                elem_id="hint",
                height=256,
            )
            outputs = []
            for i, loaded in enumerate(runs):
                with gr.Column():
                    image = gr.Image(
                        label=run_label(loaded),
                        format="png",
                        buttons=["download"],
                        elem_classes="pixelated",
                        elem_id=f"result-{i}",
                        height=256,
                    )
                    outputs.append((loaded, image, gr.Markdown(elem_id=f"time-{i}")))

        drawing.change(load_builtin, drawing, [editor, caption, status], api_name="load_builtin")
        upload.upload(load_upload, [upload, kind], [editor, status], api_name="load_upload")
        kind.change(load_upload, [upload, kind], [editor, status], api_name=False)  # the same file, read the other way
        clear_button.click(clear, editor, [editor, status], api_name="clear_strokes")
        for i, (loaded, image, seconds) in enumerate(outputs):
            color_button.click(  # the first run's event also shows the hint (runs of one `bench run` share it)
                colorer(loaded, with_hint=i == 0),
                [editor, caption, seed, steps, guidance],
                [image, hint, seconds] if i == 0 else [image, seconds],
                concurrency_limit=1,
                concurrency_id=f"run-{i}",
                api_name=f"color_{i}",
            )
    return page
