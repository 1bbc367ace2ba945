"""Captions with or without their colour words: `data.caption_colors` and the colour-free eval captions.

Why: the built-in captions name every region's colour ("a yellow triangle over a gray background"), so a model
could score well at stroke pixels by reading the caption and ignoring the strokes. Real captions (alt text,
prompts) rarely name the exact colours of regions. Training can therefore drop the colour words, always or with
a probability drawn per sample from (run seed, sample key, epoch), like the sample's hint.
"""

from __future__ import annotations

import re

import numpy as np

from bench.core.errors import UserError
from bench.data.seeds import derive_seed
from bench.data.shapes import PALETTE

#: colour names removed from captions: the built-in palette's plus the common basic colour terms
COLOR_WORDS = frozenset(PALETTE) | frozenset(
    "red orange yellow green blue purple violet pink brown black white gray grey cyan magenta teal beige "
    "navy maroon olive gold golden silver turquoise lavender crimson".split()
)
_COLOR = "|".join(sorted(COLOR_WORDS, key=len, reverse=True))
#: "red-to-blue gradient" and "red-to-blue" name two colours; a lone colour word is dropped as a word
_GRADIENT = re.compile(rf"\b(?:{_COLOR})-to-(?:{_COLOR})\b(?:\s+gradient)?", re.IGNORECASE)
_WORD = re.compile(rf"\b(?:{_COLOR})\b(?:-colou?red)?", re.IGNORECASE)
_ARTICLE = re.compile(r"\b(a|an)\s+(\w)", re.IGNORECASE)

KEEP, DROP = "keep", "drop"


def drop_color_words(caption: str) -> str:
    """``caption`` without its colour words, articles fixed: "an orange circle on a red-to-blue gradient
    background" -> "a circle on a background"."""
    text = _GRADIENT.sub(" ", caption)
    text = _WORD.sub(" ", text)
    text = re.sub(r"\s+", " ", text).strip()

    def article(match: re.Match[str]) -> str:
        word, following = match.group(1), match.group(2)
        fixed = "an" if following.lower() in "aeiou" else "a"
        return (fixed.capitalize() if word[0].isupper() else fixed) + " " + following

    return _ARTICLE.sub(article, text)


def parse_caption_colors(value: str) -> float:
    """``data.caption_colors`` as the probability of dropping a training caption's colour words:
    ``keep`` = 0, ``drop`` = 1, or a probability such as ``0.5``."""
    text = str(value).strip().lower()
    if text == KEEP:
        return 0.0
    if text == DROP:
        return 1.0
    try:
        share = float(text)
    except ValueError:
        share = -1.0
    if not 0.0 <= share <= 1.0:
        raise UserError(f"data.caption_colors must be keep, drop or a probability in [0, 1], got {value!r}")
    return share


class CaptionColors:
    """Drops a training caption's colour words with probability ``share``, decided per (seed, key, epoch)."""

    def __init__(self, setting: str, run_seed: int) -> None:
        self.share = parse_caption_colors(setting)
        self.run_seed = run_seed

    def __call__(self, caption: str, key: str, epoch: int) -> str:
        if self.share <= 0.0 or not caption:
            return caption
        if self.share < 1.0:
            draw = np.random.default_rng(derive_seed("caption-colors", self.run_seed, key, epoch)).random()
            if draw >= self.share:
                return caption
        return drop_color_words(caption)
