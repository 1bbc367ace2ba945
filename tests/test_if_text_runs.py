"""IF's T5 through whole tiny runs: every caption is encoded before the loop, the encoder is built at most once
per run and never with a warm cache, and the same budget buys the same steps either way."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.config import resolve_config
from bench.train import StopSignal, Trainer, start_run


def _train(cfg, out: Path) -> tuple[Trainer, int]:
    trainer = Trainer(cfg, start_run(cfg, out), quiet=True)
    with StopSignal() as stop:
        result = trainer.train(stop)
    return trainer, result.steps


@pytest.mark.slow
def test_a_tiny_if_run_builds_its_text_encoder_at_most_once_and_never_with_a_warm_cache(tmp_path: Path, fast) -> None:
    cache = tmp_path / "text-cache"
    overrides = fast(
        "data.resolution=64",
        "data.train_size=32",
        "data.caption_colors=0.5",
        "budget.usd=1e-7",
        "budget.utilisation=0.4",
    )
    cfg = resolve_config("if", "tiny", overrides=[*overrides, f"model.text_cache_dir={cache}"])
    cold, steps = _train(cfg, tmp_path / "cold")
    embedder = cold.backbone.embedder
    assert steps >= 2 and embedder.loads <= 1
    prepared = {c.lower().strip() for c in cold.stream.run_captions()}  # colour-free variants included
    assert embedder.cache.encoded == len(prepared)  # all before the loop; nothing new met inside it

    warm, again = _train(cfg, tmp_path / "warm")
    assert again == steps  # the same budget buys the same steps, cache warm or cold
    assert warm.backbone.embedder.loads == 0 and warm.backbone.embedder.cache.encoder_calls == 0
