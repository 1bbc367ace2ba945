"""A content-addressed cache of text embeddings: in memory, and on disk where it is shared between runs.

Why: a frozen text encoder maps a caption to the same tensor every time, so an embedding is computed once and
then read back. For DeepFloyd IF this is what makes training affordable at all: T5-XXL (4.7B parameters) never
has to sit next to the UNet; the embeddings are computed beforehand (or on a miss) and training reads them from
here. The `sd` and `cascade` backbones keep their CLIP embeddings in the same class without a directory (memory
only: their encoders are small enough to stay loaded, so an embedding is not worth a file).

Layout: ``<directory>/<key[:2]>/<key>.safetensors`` with ``key = sha256(encoder_id + "\\n" + caption)``. The
``encoder_id`` names everything that changes the output (weights, dtype, tokenizer length), so two encoders never
share entries and a directory can be shared by every run on a machine. Each file holds one tensor
(``embedding``) plus the encoder id and caption as metadata (checked on read, so a hash collision or a file
written by something else is a miss, never a wrong embedding). Files are written atomically (temp + rename, no
fsync: an entry lost to a power cut reads as a miss):
concurrent writers of the same key write identical bytes, readers never see half a file. Weights are read only
with safetensors.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from bench.core.atomic import write_bytes

#: the tensor's name inside each cache file
TENSOR = "embedding"


class EmbeddingCache:
    """Text embeddings by (encoder id, caption), on disk and in a bounded in-memory layer.

    ``get(captions, encode_fn)`` returns ``len(captions) x ...`` stacked (on the CPU with a directory, on
    ``device`` where given); ``encode_fn(list[str])`` is called only for captions found neither in memory nor on
    disk, at most ``batch_size`` at a time. Without a directory (None) nothing is read or written and entries stay
    on the device they were encoded on. Counters (``encoder_calls``, ``encoded``, ``disk_hits``, ``memory_hits``)
    say what it did, for tests and logs.
    """

    def __init__(
        self, directory: Path | str | None, encoder_id: str, *, memory_bytes: int = 2**30, batch_size: int = 64
    ) -> None:
        if not encoder_id:
            raise ValueError("an embedding cache needs a non-empty encoder_id")
        self.directory = Path(directory).expanduser() if directory is not None else None
        self.encoder_id = encoder_id
        self.memory_bytes = memory_bytes
        self.batch_size = max(1, batch_size)
        self._memory: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._memory_used = 0
        self.encoder_calls = 0
        self.encoded = 0
        self.disk_hits = 0
        self.memory_hits = 0

    def key(self, caption: str) -> str:
        """The content address of ``caption`` under this encoder (hex sha256)."""
        return hashlib.sha256(f"{self.encoder_id}\n{caption}".encode()).hexdigest()

    def path(self, caption: str) -> Path:
        """Where the embedding of ``caption`` lives on disk."""
        if self.directory is None:
            raise ValueError("a memory-only embedding cache has no files")
        key = self.key(caption)
        return self.directory / key[:2] / f"{key}.safetensors"

    def get(
        self,
        captions: Sequence[str],
        encode_fn: Callable[[list[str]], torch.Tensor],
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """The embeddings of ``captions`` (``B x ...``), encoding and storing only the ones not cached."""
        found: dict[str, torch.Tensor] = {}
        missing: list[str] = []
        for caption in dict.fromkeys(captions):
            tensor = self._from_memory(caption)
            if tensor is None:
                tensor = self._from_disk(caption)
            if tensor is None:
                missing.append(caption)
            else:
                found[caption] = tensor
        for start in range(0, len(missing), self.batch_size):
            chunk = missing[start : start + self.batch_size]
            with torch.no_grad():
                tensors = encode_fn(chunk)
            self.encoder_calls += 1
            self.encoded += len(chunk)
            for caption, tensor in zip(chunk, tensors, strict=True):
                tensor = tensor.detach()
                if self.directory is not None:
                    tensor = tensor.to("cpu").contiguous()
                    self._write(caption, tensor)
                self._remember(caption, tensor)
                found[caption] = tensor
        stacked = torch.stack([found[c] for c in captions])
        return stacked if device is None else stacked.to(device)

    def contains(self, caption: str) -> bool:
        """Whether ``caption`` is cached (in memory or a readable file on disk)."""
        return caption in self._memory or self._from_disk(caption, count=False) is not None

    def clear(self) -> None:
        """Forget the in-memory layer (files on disk stay)."""
        self._memory.clear()
        self._memory_used = 0

    # -- internals -----------------------------------------------------------------------------------------
    def _from_memory(self, caption: str) -> torch.Tensor | None:
        tensor = self._memory.get(caption)
        if tensor is not None:
            self._memory.move_to_end(caption)
            self.memory_hits += 1
        return tensor

    def _from_disk(self, caption: str, count: bool = True) -> torch.Tensor | None:
        if self.directory is None:
            return None
        path = self.path(caption)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        try:
            tensors = load(data)
            metadata = _metadata(data)
        except (SafetensorError, ValueError, RuntimeError):
            return None  # unreadable (foreign or damaged file): a miss; the next write replaces it
        if metadata.get("encoder_id") != self.encoder_id or metadata.get("caption") != caption or TENSOR not in tensors:
            return None
        tensor = tensors[TENSOR]
        if count:
            self.disk_hits += 1
            self._remember(caption, tensor)
        return tensor

    def _write(self, caption: str, tensor: torch.Tensor) -> None:
        data = save({TENSOR: tensor}, metadata={"encoder_id": self.encoder_id, "caption": caption})
        write_bytes(self.path(caption), data, durable=False)  # an entry can be recomputed: no fsync per caption

    def _remember(self, caption: str, tensor: torch.Tensor) -> None:
        size = tensor.numel() * tensor.element_size()
        if size > self.memory_bytes:
            return
        if caption in self._memory:
            return
        self._memory[caption] = tensor
        self._memory_used += size
        while self._memory_used > self.memory_bytes:
            _, old = self._memory.popitem(last=False)
            self._memory_used -= old.numel() * old.element_size()


def _metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` table of a safetensors blob (its JSON header), without reading the tensors again."""
    if len(data) < 8:
        raise ValueError("not a safetensors file")
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    return dict(header.get("__metadata__") or {})
