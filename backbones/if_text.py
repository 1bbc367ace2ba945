"""Caption -> T5 hidden states for DeepFloyd IF, through the on-disk embedding cache; T5 is loaded only on a miss.

Why: IF conditions on T5-v1.1-XXL (4.7B parameters, ~9.5 GB in bf16). Holding it during training would take
the memory the UNet needs, so `T5Embedder` keeps no encoder at all while every caption it is asked for is in the
`EmbeddingCache`; on a miss it builds the encoder, encodes the missing captions, writes them to the cache and
(with ``keep_loaded=False``) frees the encoder again. `precompute` fills the cache for a whole caption list up
front, so a run never misses. The tiny preset's T5 is a few thousand parameters and simply stays loaded.

Text is prepared as diffusers' `IFPipeline` does without caption cleaning: lower-cased and stripped, padded to 77
tokens, encoded with the attention mask; all 77 hidden states are kept (the UNet attends to all of them).

Encoding runs outside any FLOP counter (`bench.train` counts one step's FLOPs for CPU budgets): it is a one-off
preprocessing cost shared by every run, and a cache hit must cost the same as a miss.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch

from backbones.embedding_cache import EmbeddingCache

#: tokens per caption, as IF's text encoder was trained
MAX_TOKENS = 77


def default_cache_dir() -> Path:
    """``$STROKEBENCH_CACHE/text-embeddings`` (default ``~/.cache/strokebench``): one cache shared by all runs."""
    root = os.environ.get("STROKEBENCH_CACHE") or Path("~/.cache/strokebench").expanduser()
    return Path(root) / "text-embeddings"


def prepare_caption(caption: str) -> str:
    """IF's text preprocessing without caption cleaning (`IFPipeline._text_preprocessing`)."""
    return caption.lower().strip()


@contextlib.contextmanager
def uncounted() -> Iterator[None]:
    """Run the enclosed code outside active torch dispatch modes (FLOP counters)."""
    try:
        from torch.utils._python_dispatch import _disable_current_modes
    except ImportError:  # pragma: no cover - older torch: counted, which only inflates the first step
        yield
        return
    with _disable_current_modes():
        yield


class T5Embedder:
    """T5 hidden states ``B x 77 x width`` for captions, from the cache or, on a miss, from a freshly built encoder.

    ``build()`` returns ``(tokenizer, model)``; ``encoder_id`` must change whenever the output would (weights,
    dtype, length).
    """

    def __init__(
        self,
        encoder_id: str,
        width: int,
        build: Callable[[], tuple[Any, Any]],
        cache_dir: Path | str,
        *,
        keep_loaded: bool,
        device: torch.device | str = "cpu",
    ) -> None:
        self.encoder_id = encoder_id
        self.width = width
        self.cache = EmbeddingCache(cache_dir, encoder_id)
        self.keep_loaded = keep_loaded
        self.device = torch.device(device)
        self._build = build
        self._loaded: tuple[Any, Any] | None = None
        #: how often the encoder was built (a run with a warm cache builds it never)
        self.loads = 0

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    def embed(self, captions: list[str]) -> torch.Tensor:
        """Hidden states of ``captions`` (``B x 77 x width``, on the CPU, in the encoder's dtype)."""
        prepared = [prepare_caption(c) for c in captions]
        with uncounted():
            try:
                return self.cache.get(prepared, self._encode)
            finally:
                if not self.keep_loaded:
                    self.release()

    def precompute(self, captions: Iterable[str]) -> int:
        """Encode every caption not yet cached (so training never loads the encoder); returns how many were new."""
        before = self.cache.encoded
        unique = list(dict.fromkeys(prepare_caption(c) for c in captions))
        with uncounted():
            try:
                for start in range(0, len(unique), 1024):
                    self.cache.get(unique[start : start + 1024], self._encode)
            finally:
                if not self.keep_loaded:
                    self.release()
        return self.cache.encoded - before

    def release(self) -> None:
        """Drop the encoder (and its accelerator memory)."""
        if self._loaded is None:
            return
        self._loaded = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _encode(self, captions: list[str]) -> torch.Tensor:
        if self._loaded is None:
            tokenizer, model = self._build()
            self._loaded = (tokenizer, model.to(self.device).eval().requires_grad_(False))
            self.loads += 1
        tokenizer, model = self._loaded
        tokens = tokenizer(
            captions,
            padding="max_length",
            max_length=MAX_TOKENS,
            truncation=True,
            add_special_tokens=True,
            return_tensors="pt",
        )
        with torch.no_grad():
            states = model(
                tokens.input_ids.to(self.device), attention_mask=tokens.attention_mask.to(self.device)
            ).last_hidden_state
        return states.cpu()


def weights_fingerprint(module: torch.nn.Module) -> str:
    """A short hash of a module's weights and config: the identity of a code-built (tiny) encoder."""
    import hashlib

    digest = hashlib.sha256(repr(getattr(module, "config", "")).encode())
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]
