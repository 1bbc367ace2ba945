"""Colour words leave captions (data.caption_colors and the colour-free eval captions)."""

from __future__ import annotations

import pytest
import torch

from bench.core.errors import UserError
from bench.data import shapes
from bench.data.captions import COLOR_WORDS, CaptionColors, drop_color_words, parse_caption_colors


def test_drop_color_words_removes_colours_and_fixes_articles() -> None:
    text = "an orange circle over an outlined red-to-blue gradient square on a yellow background"
    assert drop_color_words(text) == "a circle over an outlined square on a background"
    assert drop_color_words("A Red star") == "A star"
    assert drop_color_words("a photo of a cat") == "a photo of a cat"


def test_no_builtin_caption_keeps_a_colour_word() -> None:
    for index in range(300):
        words = drop_color_words(shapes.caption(shapes.sample_scene("train", index))).split()
        assert not COLOR_WORDS & {w.strip(",.").lower() for w in words}
        assert not any(w.startswith("-") or w.endswith("-") for w in words)


def test_setting_parses_keep_drop_and_probabilities() -> None:
    assert parse_caption_colors("keep") == 0.0 and parse_caption_colors("drop") == 1.0
    assert parse_caption_colors("0.25") == 0.25
    for bad in ("sometimes", "1.5", "-0.1"):
        with pytest.raises(UserError, match="caption_colors"):
            parse_caption_colors(bad)


def test_a_probability_drops_that_share_deterministically_per_key_and_epoch() -> None:
    policy = CaptionColors("0.3", run_seed=0)
    caption = "a red circle on a blue background"
    dropped = [policy(caption, f"shapes/train/{i}", 0) != caption for i in range(2000)]
    assert 0.27 < sum(dropped) / len(dropped) < 0.33
    again = CaptionColors("0.3", run_seed=0)
    assert [again(caption, f"shapes/train/{i}", 0) != caption for i in range(2000)] == dropped
    assert CaptionColors("keep", 0)(caption, "k", 0) == caption
    assert CaptionColors("drop", 0)(caption, "k", 0) == "a circle on a background"


def test_training_batches_carry_the_setting() -> None:
    import dataclasses

    from bench.config import resolve_config
    from bench.data.loader import TrainStream

    cfg = resolve_config("sd", "tiny")
    small = {"resolution": 32, "batch_size": 4, "num_workers": 0, "train_size": 8, "eval_size": 4}
    kept = next(TrainStream(dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, **small))))
    dropped = next(
        TrainStream(dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, **small, caption_colors="drop")))
    )
    assert dropped.keys == kept.keys and torch.equal(dropped.hint, kept.hint)
    assert dropped.captions == [drop_color_words(c) for c in kept.captions] != kept.captions
