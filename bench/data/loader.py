"""Sources -> batches of (pixels in [-1, 1], hint, caption, key), prefetched by worker processes.

Determinism and resume: every item is a pure function of its stream position. Position p falls in epoch
``p // items_per_epoch``, whose order is a permutation seeded by (run seed, epoch); the hint seed comes from
(run seed, key, epoch). So batches are identical for any number of workers, and a stream restored from
``state_dict()`` (the count of batches already consumed) yields exactly the batches an uninterrupted stream
would have, skipping through positions without loading the skipped images.

Processes: under ``accelerate launch`` the stream of micro-batches is one global sequence and process r of N
reads micro-batches r, r + N, r + 2N, ... of it. So the processes' slices are disjoint, an optimizer step's
global batch (N x accumulation micro-batches) is the one a single process with N times the accumulation would
draw, and hints stay a function of (key, epoch). Every source is read by random access (wds shards are indexed,
not streamed), so splitting by micro-batch serves every kind; splitting whole shards by process would make the
global batch depend on the process count.

Bad items: a source raises `SkippedItem` for an item it cannot deliver (dead URL, corrupt file, ...). The item
is replaced by substitutes chosen by `substitute_index` (a pure function of run seed, epoch, index, attempt),
so the rule above still holds; every skip is counted by reason (`TrainStream.skip_counts`), the counts travel
in the training state, and a source failing too often stops the run with one sentence (`SkipTally.check`).

Remote sources (URLs) are read by a pool of threads in each loading process, ahead of the consumer: when a
process loads batch b it queues its next batches too (b + k x workers, the batches the DataLoader will hand
it), so ``data.fetch_threads`` requests are in flight while the model trains.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info

from backbones.base import Batch
from bench.config import RunConfig
from bench.core.errors import UserError
from bench.data.captions import CaptionColors, drop_color_words
from bench.data.options import SourceOptions
from bench.data.prefetch import ThreadPool
from bench.data.seeds import derive_seed, hint_seed
from bench.data.skips import MAX_PROBES, SkippedItem, SkipTally, substitute_index
from bench.data.sources import Example, Source, open_source
from hints import HintConfig, make_hint

#: queued items per fetch thread (enough that a thread never waits for work)
LOOKAHEAD_PER_THREAD = 2


def to_pixels(image: np.ndarray) -> torch.Tensor:
    """RGB uint8 ``H x W x 3`` -> float32 ``3 x H x W`` in [-1, 1]."""
    return torch.from_numpy(image).permute(2, 0, 1).float().div_(127.5).sub_(1.0)


class StreamOrder:
    """Stream position -> (epoch, index): one seeded permutation per epoch, whole batches only."""

    def __init__(self, size: int, batch_size: int, run_seed: int) -> None:
        self.size, self.batch_size, self.run_seed = size, batch_size, run_seed
        self.items_per_epoch = (size // batch_size) * batch_size
        self._orders: dict[int, np.ndarray] = {}

    def order(self, epoch: int) -> np.ndarray:
        order = self._orders.get(epoch)
        if order is None:
            order = np.random.default_rng(derive_seed("order", self.run_seed, epoch)).permutation(self.size)
            self._orders = {e: o for e, o in self._orders.items() if abs(e - epoch) <= 1}
            self._orders[epoch] = order
        return order

    def address(self, position: int) -> tuple[int, int]:
        epoch, offset = divmod(position, self.items_per_epoch)
        return epoch, int(self.order(epoch)[offset])


class PositionSampler(Sampler):
    """The stream positions of this process's micro-batches, from its ``start``-th on, forever: the positions of
    global micro-batches ``rank, rank + processes, ...`` (the dataset maps positions to items)."""

    def __init__(self, start: int, batch_size: int, rank: int = 0, processes: int = 1) -> None:
        self.start, self.batch_size, self.rank, self.processes = start, batch_size, rank, processes

    def __iter__(self) -> Iterator[int]:
        for local in itertools.count(self.start):
            first = (local * self.processes + self.rank) * self.batch_size
            yield from range(first, first + self.batch_size)


@dataclass
class Resolved:
    """The example that serves one address (None if every substitute failed) and the reasons of the skips."""

    example: Example | None
    skipped: tuple[str, ...] = ()


#: one loaded item: (pixels or None, hint or None, caption, key, skip reasons)
Item = tuple[torch.Tensor | None, torch.Tensor | None, str, str, tuple[str, ...]]


class HintedDataset(Dataset):
    """Items addressed by stream position: the source's example (or its substitute) plus its epoch's hint."""

    def __init__(
        self,
        source: Source,
        hints: HintConfig,
        run_seed: int,
        order: StreamOrder,
        threads: int = 0,
        caption_colors: str = "keep",
        processes: int = 1,
    ) -> None:
        self.source, self.hints, self.run_seed, self.order = source, hints, run_seed, order
        self.threads, self.processes = threads, processes
        self.captions = CaptionColors(caption_colors, run_seed)
        self._pool: ThreadPool | None = None
        self._pool_pid = -1
        self._futures: dict[int, Any] = {}

    def __len__(self) -> int:
        return len(self.source)

    def __getstate__(self) -> dict[str, Any]:  # a worker builds its own pool
        return {**self.__dict__, "_pool": None, "_pool_pid": -1, "_futures": {}}

    def resolve(self, epoch: int, index: int) -> Resolved:
        """``source[index]``, or the first of its deterministic substitutes that loads."""
        skipped: list[str] = []
        candidate = index
        for attempt in range(MAX_PROBES + 1):
            if attempt:
                candidate = substitute_index(self.run_seed, epoch, index, attempt, len(self.source))
            try:
                return Resolved(self.source[candidate], tuple(skipped))
            except SkippedItem as exc:
                skipped.append(exc.reason)
        return Resolved(None, tuple(skipped))

    def _resolve_position(self, position: int) -> Resolved:
        return self.resolve(*self.order.address(position))

    def _item(self, position: int, resolved: Resolved) -> Item:
        example = resolved.example
        if example is None:
            return None, None, "", "", resolved.skipped
        epoch = position // self.order.items_per_epoch
        hint = make_hint(example.image, hint_seed(self.run_seed, example.key, epoch), self.hints)
        caption = self.captions(example.caption, example.key, epoch)
        return to_pixels(example.image), torch.from_numpy(hint), caption, example.key, resolved.skipped

    def __getitem__(self, position: int) -> Item:
        return self._item(position, self._resolve_position(position))

    def __getitems__(self, positions: list[int]) -> list[Item]:
        if self.threads <= 0:
            return [self[p] for p in positions]
        pool = self._thread_pool()
        info = get_worker_info()
        # the next batches this loading process is handed: every (workers x processes)-th global one
        stride = (info.num_workers if info is not None else 1) * self.processes
        size = self.order.batch_size
        batch = positions[0] // size
        depth = math.ceil(self.threads * LOOKAHEAD_PER_THREAD / size)
        for ahead in range(depth + 1):
            start = (batch + ahead * stride) * size
            for position in range(start, start + size):
                if position not in self._futures:
                    self._futures[position] = pool.submit(self._resolve_position, position)
        for stale in [p for p in self._futures if p < positions[0]]:  # never asked for (a jump): drop
            self._futures.pop(stale).cancel()
        return [self._item(p, self._futures.pop(p).result()) for p in positions]

    def _thread_pool(self) -> ThreadPool:
        if self._pool is None or self._pool_pid != os.getpid():
            self._pool, self._pool_pid, self._futures = ThreadPool(self.threads), os.getpid(), {}
        return self._pool

    def close(self) -> None:
        """Stop this process's prefetching (queued reads are cancelled)."""
        if self._pool is not None and self._pool_pid == os.getpid():
            self._pool.close()
        self._pool, self._futures = None, {}


def collate(items: list[tuple[torch.Tensor, torch.Tensor, str, str]]) -> Batch:
    """Stack (pixels, hint, caption, key) items into a `Batch`."""
    pixels, hints, captions, keys = zip(*items, strict=True)
    return Batch(torch.stack(pixels), torch.stack(hints), list(captions), list(keys))


@dataclass
class CountedBatch:
    """What a loading process hands back: the batch (None if an item had no usable substitute) and its counts."""

    batch: Batch | None
    skipped: list[str]
    empty_captions: int


def collate_counted(items: list[Item]) -> CountedBatch:
    """`collate` plus the skip reasons and empty-caption count of the batch."""
    skipped = [reason for item in items for reason in item[4]]
    if any(item[0] is None for item in items):
        return CountedBatch(None, skipped, 0)
    empty = sum(1 for item in items if not item[2])
    return CountedBatch(collate([item[:4] for item in items]), skipped, empty)  # type: ignore[misc]


def _worker_init(_: int) -> None:
    import cv2

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    # a lower priority: where cores are few (2 here), the worker takes the cycles the training threads leave
    # idle instead of preempting them; the prefetched batches cover its slower turns
    with contextlib.suppress(OSError, AttributeError):
        os.nice(10)


class TrainStream:
    """An endless iterator of training `Batch`es with a resumable position (batches consumed)."""

    def __init__(
        self,
        cfg: RunConfig,
        start_batch: int = 0,
        options: SourceOptions | None = None,
        rank: int = 0,
        processes: int = 1,
    ) -> None:
        """``options`` default to those named in ``cfg.data`` (see `SourceOptions.from_config`); ``rank`` of
        ``processes`` picks this process's slice of every global batch (module docstring)."""
        self.cfg, self.rank, self.processes = cfg, rank, processes
        self.options = options or SourceOptions.from_config(cfg.data)
        self.source = open_source(cfg.data.source, "train", cfg.data.resolution, cfg.data.train_size, self.options)
        if len(self.source) < cfg.data.batch_size:
            raise UserError(
                f"data source {cfg.data.source} has {len(self.source)} training items, fewer than "
                f"data.batch_size={cfg.data.batch_size}"
            )
        self.tally = SkipTally(cfg.data.source, self.options.max_failure_share)
        self.consumed = start_batch
        self._iterator: Iterator[CountedBatch] | None = None
        self._dataset: HintedDataset | None = None

    @property
    def global_batch(self) -> int:
        """The index of the next batch this process draws in the one global sequence of micro-batches."""
        return self.consumed * self.processes + self.rank

    @property
    def epoch(self) -> int:
        """The epoch the next batch comes from."""
        return self.global_batch // (len(self.source) // self.cfg.data.batch_size)

    def _loader(self) -> Iterator[CountedBatch]:
        workers = self.cfg.data.num_workers
        if workers > 0:
            import cv2

            # OpenCV's thread pool, once started here (any resize in this process), deadlocks the forked
            # workers when `_worker_init` resizes it; one thread here means no pool is copied into them
            cv2.setNumThreads(1)
        order = StreamOrder(len(self.source), self.cfg.data.batch_size, self.cfg.seed)
        threads = self.options.fetch_threads if getattr(self.source, "remote", False) else 0
        size = self.cfg.data.batch_size
        self._dataset = HintedDataset(
            self.source, self.cfg.hints, self.cfg.seed, order, threads, self.cfg.data.caption_colors, self.processes
        )
        loader = DataLoader(
            self._dataset,
            batch_size=size,
            sampler=PositionSampler(self.consumed, size, self.rank, self.processes),
            num_workers=workers,
            collate_fn=collate_counted,
            persistent_workers=workers > 0,
            prefetch_factor=4 if workers > 0 else None,
            worker_init_fn=_worker_init if workers > 0 else None,
            # its own generator: creating the iterator must not draw from the global RNG the training step
            # uses, or a resumed run (which creates it at another moment) would draw different noise
            generator=torch.Generator().manual_seed(derive_seed("loader", self.cfg.seed, self.consumed)),
        )
        return iter(loader)

    def __iter__(self) -> TrainStream:
        return self

    def __next__(self) -> Batch:
        if self._iterator is None:
            self._iterator = self._loader()
        counted = next(self._iterator)
        self.consumed += 1
        self.tally.add(len(counted.batch) if counted.batch is not None else 0, counted.skipped, counted.empty_captions)
        self.tally.check(unresolved=counted.batch is None)
        assert counted.batch is not None
        return counted.batch

    def skip_counts(self) -> dict[str, int]:
        """Items skipped since the run began (resumes included), by reason, plus ``empty_caption``: items
        trained on with an empty caption. E.g. ``{"http_404": 3, "not_image": 1, "empty_caption": 2}``."""
        return self.tally.counts()

    def run_captions(self) -> list[str]:
        """Every caption the run sees, read without the images: the empty one of guidance, the training items'
        and the eval split's (what `Backbone.prepare_captions` precomputes before the loop)."""
        cfg = self.cfg
        evaluated = open_source(cfg.data.source, "eval", cfg.data.resolution, cfg.data.eval_size, self.options)
        training = source_captions(self.source)
        if CaptionColors(cfg.data.caption_colors, cfg.seed).share > 0:  # and their colour-free variants
            training += [drop_color_words(c) for c in training]
        return list(dict.fromkeys(["", *training, *source_captions(evaluated)]))

    def state_dict(self) -> dict[str, Any]:
        """The position to resume from (this process's batches consumed), and its skip counts so far."""
        return {"batches": self.consumed, "skips": self.tally.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue after ``state["batches"]`` of this process's batches (restarts the workers there)."""
        self.close()
        self.consumed = int(state["batches"])
        self.tally.load_state_dict(state.get("skips", {}))

    def close(self) -> None:
        """Stop the workers and the prefetching of this process."""
        self._iterator = None
        if self._dataset is not None:
            self._dataset.close()
            self._dataset = None


def source_captions(source: Source) -> list[str]:
    """Every caption of ``source``, read without the images; none from a source that cannot list them."""
    captions = getattr(source, "captions", None)
    return list(captions()) if callable(captions) else []
