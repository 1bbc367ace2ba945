"""The on-disk text-embedding cache: encodes each caption once, survives new processes, never mixes encoders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

from backbones.embedding_cache import EmbeddingCache


class CountingEncoder:
    """A deterministic fake text encoder: ``len(caption)`` and a hash-derived vector, counting what it encodes."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, captions: list[str]) -> torch.Tensor:
        self.seen.extend(captions)
        rows = []
        for caption in captions:
            gen = torch.Generator().manual_seed(sum(map(ord, caption)) + len(caption))
            rows.append(torch.randn(4, 3, generator=gen))
        return torch.stack(rows)


def test_second_run_is_served_from_disk(tmp_path: Path) -> None:
    captions = ["a red circle", "a blue square", "a red circle", ""]
    encoder = CountingEncoder()
    first = EmbeddingCache(tmp_path, "fake-encoder").get(captions, encoder)
    assert first.shape == (4, 4, 3)
    assert encoder.seen == ["a red circle", "a blue square", ""]  # duplicates encoded once
    assert torch.equal(first[0], first[2])

    again = EmbeddingCache(tmp_path, "fake-encoder")  # a new run: empty memory, same directory
    second = again.get(captions, encoder)
    assert torch.equal(first, second)
    assert again.encoder_calls == 0 and again.disk_hits == 3
    assert len(encoder.seen) == 3


def test_memory_layer_and_counters(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, "fake-encoder", batch_size=2)
    encoder = CountingEncoder()
    cache.get(["a", "b", "c"], encoder)
    assert cache.encoder_calls == 2 and cache.encoded == 3  # batches of at most 2
    cache.get(["a", "c"], encoder)
    assert cache.memory_hits == 2 and cache.encoder_calls == 2
    assert cache.contains("b") and not cache.contains("d")


def test_encoders_never_share_entries(tmp_path: Path) -> None:
    encoder = CountingEncoder()
    EmbeddingCache(tmp_path, "encoder-a").get(["a caption"], encoder)
    other = EmbeddingCache(tmp_path, "encoder-b")
    other.get(["a caption"], lambda c: torch.zeros(len(c), 4, 3))
    assert other.encoder_calls == 1
    assert torch.equal(EmbeddingCache(tmp_path, "encoder-a").get(["a caption"], encoder)[0], encoder(["a caption"])[0])


def test_damaged_or_foreign_files_are_misses_and_get_replaced(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, "fake-encoder")
    encoder = CountingEncoder()
    expected = cache.get(["x"], encoder)
    cache.path("x").write_bytes(b"\x00garbage")
    fresh = EmbeddingCache(tmp_path, "fake-encoder")
    assert torch.equal(fresh.get(["x"], encoder), expected)
    assert fresh.encoder_calls == 1
    assert EmbeddingCache(tmp_path, "fake-encoder").get(["x"], encoder).shape == (1, 4, 3)
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave no temp files


def test_another_process_reads_what_this_one_wrote(tmp_path: Path) -> None:
    EmbeddingCache(tmp_path, "fake-encoder").get(["shared caption"], lambda c: torch.ones(len(c), 2))
    script = (
        "import sys; from backbones.embedding_cache import EmbeddingCache\n"
        f"c = EmbeddingCache({str(tmp_path)!r}, 'fake-encoder')\n"
        "t = c.get(['shared caption'], lambda c: (_ for _ in ()).throw(SystemExit(3)))\n"
        "sys.exit(0 if float(t.sum()) == 2.0 else 4)\n"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", script], cwd=root, timeout=120)
    assert done.returncode == 0
