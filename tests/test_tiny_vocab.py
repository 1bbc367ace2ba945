"""The tiny text encoders' shipped vocabulary covers every word of the built-in captions."""

import re

from backbones.text_encoders import UNK, builtin_words, tiny_tokenizer
from bench.data import photos, shapes

# the pieces `tokenizers.pre_tokenizers.Whitespace` makes: word characters, or runs of punctuation
WORD = re.compile(r"\w+|[^\w\s]+")


def builtin_caption_words() -> set[str]:
    words: set[str] = set()
    for split, count in (("train", 2000), ("eval", 256)):
        for index in range(count):
            words.update(WORD.findall(shapes.caption(shapes.sample_scene(split, index)).lower()))
    for caption in photos.PHOTOS.values():
        words.update(WORD.findall(caption.lower()))
    words.update(shapes.PALETTE)
    words.update(shapes.KINDS)
    return words


def test_shipped_vocabulary_covers_the_builtin_captions() -> None:
    missing = builtin_caption_words() - set(builtin_words())
    assert not missing, f"backbones/configs/tiny_vocab.json lacks {sorted(missing)}"
    assert builtin_words() == sorted(builtin_words())


def test_builtin_captions_tokenize_without_unknown_words() -> None:
    tokenizer = tiny_tokenizer(77)
    unk = tokenizer.convert_tokens_to_ids(UNK)
    caption = shapes.caption(shapes.sample_scene("eval", 3))
    ids = tokenizer(caption)["input_ids"]
    assert unk not in ids and len(ids) > 3
