"""Eval samples on disk: every output as a PNG, plus each eval set's inputs, so reports need nothing else.

```
RUN/samples/eval/<set>/inputs/items.json          spec, strokes, keys and captions, in order
RUN/samples/eval/<set>/inputs/0000-hint.png       what the user drew (edges + strokes)
RUN/samples/eval/<set>/inputs/0000-target.png
RUN/samples/eval/<set>/<checkpoint>/0000.png      the output of that checkpoint for item 0
RUN/samples/eval/<set>/<checkpoint>/scores.json   each per-image metric's score of every item, in order
```

``<set>`` is a file-name-safe slug of the eval set (plus ``-strokes<k>`` for adherence sets and ``-<variant>``
for colour-free captions or counterfactual strokes). Per-item scores let a report pair two runs item by item.
Outputs are lossless PNG, so re-scoring saved outputs (e.g. once the LPIPS weights are installed) gives the same numbers
as scoring them when they were sampled.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path

import numpy as np
from PIL import Image

from bench.core.atomic import write_bytes, write_text
from eval.items import EvalItems

EVAL_SAMPLES = Path("samples") / "eval"
INPUTS = "inputs"
ITEMS_FILE = "items.json"
SCORES_FILE = "scores.json"


def set_slug(spec: str, strokes: int | None = None, variant: str = "") -> str:
    """A folder name for an eval set: readable, file-name safe, unique (a short hash when it had to change)."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", spec).strip("-")[-60:] or "set"
    if readable != spec.replace(":", "-"):
        readable += "-" + hashlib.sha256(spec.encode()).hexdigest()[:8]
    return readable + (f"-strokes{strokes}" if strokes is not None else "") + (f"-{variant}" if variant else "")


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def read_png(path: Path) -> np.ndarray:
    """An RGB PNG as ``H x W x 3`` uint8."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


class SampleStore:
    """The eval sample folders of one run directory."""

    def __init__(self, run_path: Path) -> None:
        self.root = Path(run_path) / EVAL_SAMPLES

    def set_dir(self, items: EvalItems) -> Path:
        return self.root / set_slug(items.spec, items.strokes, items.variant)

    def output_dir(self, items: EvalItems, checkpoint: str) -> Path:
        return self.set_dir(items) / checkpoint

    def write_inputs(self, items: EvalItems) -> None:
        """Write the set's hint pictures, targets and item list (once; they never change)."""
        folder = self.set_dir(items) / INPUTS
        listing = {"spec": items.spec, "strokes": items.strokes, "keys": items.keys, "captions": items.captions}
        if (folder / ITEMS_FILE).is_file() and json.loads((folder / ITEMS_FILE).read_text()) == listing:
            return
        for i in range(len(items)):
            write_bytes(folder / f"{i:04d}-target.png", _png(items.targets[i]))
            if items.pictures is not None:
                write_bytes(folder / f"{i:04d}-hint.png", _png(items.pictures[i]))
        write_text(folder / ITEMS_FILE, json.dumps(listing, indent=1))

    def write_outputs(self, items: EvalItems, checkpoint: str, outputs: np.ndarray) -> None:
        folder = self.output_dir(items, checkpoint)
        for i, image in enumerate(outputs):
            write_bytes(folder / f"{i:04d}.png", _png(image))

    def write_scores(self, items: EvalItems, checkpoint: str, scores: dict[str, np.ndarray]) -> None:
        """Merge per-item scores (metric -> one value per item, NaN as null) into the checkpoint's scores.json."""
        path = self.output_dir(items, checkpoint) / SCORES_FILE
        held = read_scores(self.root.parent.parent, items.spec, checkpoint, items.strokes, items.variant)
        metrics = held[1] if held is not None and held[0] == items.keys else {}
        metrics.update({m: np.asarray(v, dtype=np.float64) for m, v in scores.items()})
        listing = {"keys": items.keys, "scores": {m: [None if np.isnan(x) else float(x) for x in v]
                                                  for m, v in metrics.items()}}  # fmt: skip
        write_text(path, json.dumps(listing))

    def read_outputs(self, items: EvalItems, checkpoint: str) -> np.ndarray | None:
        """The saved outputs of ``checkpoint`` on this set, or None unless every item's PNG is there and fits."""
        listing = self.set_dir(items) / INPUTS / ITEMS_FILE
        if not listing.is_file() or json.loads(listing.read_text()).get("keys") != items.keys:
            return None  # saved for another item list: stale
        folder = self.output_dir(items, checkpoint)
        paths = [folder / f"{i:04d}.png" for i in range(len(items))]
        if not paths or not all(p.is_file() for p in paths):
            return None
        images = [read_png(p) for p in paths]
        if any(image.shape != items.targets.shape[1:] for image in images):
            return None
        return np.stack(images)


def read_scores(
    run_path: Path, eval_set: str, checkpoint: str, strokes: int | None = None, variant: str = ""
) -> tuple[list[str], dict[str, np.ndarray]] | None:
    """(item keys, metric -> per-item scores) a run saved for one checkpoint on one eval set, or None."""
    path = Path(run_path) / EVAL_SAMPLES / set_slug(eval_set, strokes, variant) / checkpoint / SCORES_FILE
    if not path.is_file():
        return None
    listing = json.loads(path.read_text(encoding="utf-8"))
    scores = {
        m: np.array([np.nan if x is None else x for x in v], dtype=np.float64) for m, v in listing["scores"].items()
    }
    return list(listing["keys"]), scores
