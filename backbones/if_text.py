"""Caption -> T5 hidden states for DeepFloyd IF, through the on-disk embedding cache; T5 is loaded only on a miss.

Why: IF conditions on T5-v1.1-XXL (4.7B parameters, ~9.5 GB in bf16). Holding it on the accelerator during
training would take the memory the UNet needs, so `T5Embedder` builds no encoder while every caption it is asked
for is in the `EmbeddingCache`. `precompute` (what `DeepFloydIF.prepare_captions` calls before a loop) encodes a
whole caption list in batches on the accelerator and then moves the encoder to the CPU, freeing the accelerator;
a caption first seen later (a streaming source) is encoded there, by the same encoder. The encoder is built at
most once per embedder, never per batch.

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
    dtype, length). ``device`` is where `precompute` encodes (the accelerator); `embed` encodes on the CPU.
    """

    def __init__(
        self,
        encoder_id: str,
        width: int,
        build: Callable[[], tuple[Any, Any]],
        cache_dir: Path | str,
        *,
        device: torch.device | str = "cpu",
    ) -> None:
        self.encoder_id = encoder_id
        self.width = width
        self.cache = EmbeddingCache(cache_dir, encoder_id)
        self.device = torch.device(device)
        self._build = build
        self._loaded: tuple[Any, Any] | None = None
        #: how often the encoder was built: at most once; never with a warm cache
        self.loads = 0

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    @property
    def encoder_device(self) -> torch.device | None:
        """Where the built encoder sits (None: not built)."""
        return None if self._loaded is None else next(self._loaded[1].parameters()).device

    def embed(self, captions: list[str]) -> torch.Tensor:
        """Hidden states of ``captions`` (``B x 77 x width``, on the CPU, in the encoder's dtype)."""
        prepared = [prepare_caption(c) for c in captions]
        with uncounted():
            return self.cache.get(prepared, lambda missing: self._encode(missing, torch.device("cpu")))

    def precompute(self, captions: Iterable[str]) -> int:
        """Encode every caption not yet cached, in batches on ``device``, then move the encoder to the CPU (its
        accelerator memory freed); returns how many captions were new."""
        before = self.cache.encoded
        unique = list(dict.fromkeys(prepare_caption(c) for c in captions))
        with uncounted():
            try:
                for start in range(0, len(unique), 1024):
                    self.cache.get(unique[start : start + 1024], lambda missing: self._encode(missing, self.device))
            finally:
                self._park()
        return self.cache.encoded - before

    def _park(self) -> None:
        """The encoder to the CPU, where later misses are encoded; the accelerator's memory freed."""
        if self._loaded is None or self.encoder_device == torch.device("cpu"):
            return
        self._loaded[1].to("cpu")
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _encode(self, captions: list[str], device: torch.device) -> torch.Tensor:
        if self._loaded is None:
            tokenizer, model = self._build()
            self._loaded = (tokenizer, model.eval().requires_grad_(False))
            self.loads += 1
        tokenizer, model = self._loaded
        if self.encoder_device != device:
            model.to(device)
        tokens = tokenizer(
            captions,
            padding="max_length",
            max_length=MAX_TOKENS,
            truncation=True,
            add_special_tokens=True,
            return_tensors="pt",
        )
        with torch.no_grad():
            ids, mask = tokens.input_ids.to(device), tokens.attention_mask.to(device)
            states = model(ids, attention_mask=mask).last_hidden_state
        return states.cpu()


def weights_fingerprint(module: torch.nn.Module) -> str:
    """A short hash of a module's weights and config: the identity of a code-built (tiny) encoder."""
    import hashlib

    digest = hashlib.sha256(repr(getattr(module, "config", "")).encode())
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]
