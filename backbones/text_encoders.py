"""Text conditioning for the tiny presets, built offline, and a guard against broken tokenizers.

Why built in code: a tiny preset must run with no download, so it cannot fetch CLIP's or T5's tokenizer. The
built-in captions use a few dozen words ("an outlined red circle over a blue square ..."), so a word-level
tokenizer whose vocabulary (shipped as ``configs/tiny_vocab.json``) holds their words covers them exactly,
deterministically, on any machine; unknown words map to ``<|unk|>``. The tiny text models are the real
transformers classes (`CLIPTextModel`, `CLIPTextModelWithProjection`, `T5EncoderModel`) at small widths, so the
code path is the full preset's.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from bench.core.errors import UserError

PAD, BOS, EOS, UNK = "<|pad|>", "<|startoftext|>", "<|endoftext|>", "<|unk|>"
SPECIALS = (PAD, BOS, EOS, UNK)
#: the tiny encoders' vocabulary, shipped as data (the built-in captions' words; a test checks the coverage)
VOCAB_FILE = Path(__file__).parent / "configs" / "tiny_vocab.json"
#: a tokenizer with fewer entries than this came back broken (an offline CLIP tokenizer can have 2)
MIN_VOCAB = 32


def builtin_words() -> list[str]:
    """The shipped vocabulary of the tiny text encoders (every word of the built-in captions), sorted."""
    return list(json.loads(VOCAB_FILE.read_text())["words"])


@functools.lru_cache(maxsize=4)
def tiny_tokenizer(max_length: int = 77) -> Any:
    """A word-level `PreTrainedTokenizerFast` over the built-in vocabulary, padding to ``max_length``.

    Ids: 0 pad, 1 start, 2 end, 3 unknown, then the words in sorted order: identical on every machine.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIALS)}
    for word in builtin_words():
        vocab.setdefault(word, len(vocab))
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}", special_tokens=[(BOS, vocab[BOS]), (EOS, vocab[EOS])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        pad_token=PAD,
        model_max_length=max_length,
    )


def tokenize(tokenizer: Any, captions: list[str]) -> Any:
    """Token ids ``B x max_length`` as SD's pipelines make them: padded to the maximum length, truncated."""
    return tokenizer(
        captions,
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids


def check_tokenizer(tokenizer: Any, what: str, source: str = "<model>") -> None:
    """Refuse a tokenizer that loaded without its vocabulary instead of training on garbage ids.

    A CLIP tokenizer loaded offline from an incomplete cache can come back with a 2-token vocabulary and
    encode every caption as the same ids; nothing fails, the model just never sees text.
    """
    size = len(tokenizer)
    if size < MIN_VOCAB:
        raise UserError(
            f"{what}: the tokenizer loaded with a vocabulary of {size} tokens, so its files are missing or "
            f"incomplete; download the model again (`huggingface-cli download {source}`) or pass a complete "
            "local folder"
        )


def tiny_clip_config(tokenizer: Any, width: int, layers: int, heads: int, projection: int = 0) -> Any:
    """A small `CLIPTextConfig` whose ids match `tiny_tokenizer` (``projection`` > 0: a with-projection model)."""
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=width,
        intermediate_size=width * 4,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        max_position_embeddings=tokenizer.model_max_length,
        projection_dim=projection or width,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )


def tiny_t5_config(tokenizer: Any, width: int, layers: int, heads: int) -> Any:
    """A small `T5Config` (encoder only is used) whose ids match `tiny_tokenizer`."""
    from transformers import T5Config

    return T5Config(
        vocab_size=len(tokenizer),
        d_model=width,
        d_kv=width // heads,
        d_ff=width * 2,
        num_layers=layers,
        num_heads=heads,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
        feed_forward_proj="gated-gelu",
    )
