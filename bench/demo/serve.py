"""Starting the page: runs loaded once (on the GPU when there is one), files in a temporary folder, local bind."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.coloring import LoadedRun, load_run
from bench.demo.lineart import UploadLimits


def default_device() -> str:
    """``cuda`` when a GPU is there, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_runs(paths: list[Path], checkpoint: str = "last", device: str | None = None) -> list[LoadedRun]:
    """Each run's checkpoint loaded once, before the page starts."""
    device = device or default_device()
    return [load_run(path, checkpoint, device) for path in paths]


@contextmanager
def temp_files() -> Iterator[Path]:
    """A temporary folder for everything gradio writes (uploads, canvas layers, results), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="bench-demo-"))
    before = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = str(folder)
    try:
        yield folder
    finally:
        if before is None:
            os.environ.pop("GRADIO_TEMP_DIR", None)
        else:
            os.environ["GRADIO_TEMP_DIR"] = before
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Server:
    """A started page: its URL and the gradio app to close."""

    url: str
    page: Any

    def close(self) -> None:
        self.page.close()


def start(
    runs: list[LoadedRun], host: str = "127.0.0.1", port: int | None = None, limits: UploadLimits | None = None
) -> Server:
    """Build and launch the page without blocking (call inside `temp_files`); no public share link."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr
    import gradio.routes

    # gradio's routes read GRADIO_TEMP_DIR once, at import: a second page in one process needs its own folder
    gradio.routes.DEFAULT_TEMP_DIR = os.environ.get("GRADIO_TEMP_DIR", gradio.routes.DEFAULT_TEMP_DIR)

    from bench.demo.page import CSS, build_page

    limits = limits or UploadLimits()
    page = build_page(runs, limits)
    page.queue(default_concurrency_limit=1)
    page.launch(
        server_name=host,
        server_port=port,
        share=False,
        prevent_thread_lock=True,
        max_file_size=limits.max_bytes,
        ssr_mode=False,
        quiet=True,
        footer_links=[],
        theme=gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["monospace"]),
        css=CSS,
    )
    return Server(page.local_url, page)
