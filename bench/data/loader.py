"""Sources -> batches of (pixels in [-1, 1], hint, caption, key), prefetched by worker processes.

Determinism and resume: every item is a pure function of (epoch, index): the order of an epoch is a
permutation seeded by (run seed, epoch) and the hint seed comes from (run seed, key, epoch). So batches are
identical for any number of workers, and a stream restored from ``state_dict()`` (the count of batches already
consumed) yields exactly the batches an uninterrupted stream would have, skipping through the sampler without
loading the skipped images.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from backbones.base import Batch
from bench.config import RunConfig
from bench.data.seeds import derive_seed, eval_hint_seed, hint_seed
from bench.data.sources import Source, open_source
from bench.errors import UserError
from hints import HintConfig, make_hint


def to_pixels(image: np.ndarray) -> torch.Tensor:
    """RGB uint8 ``H x W x 3`` -> float32 ``3 x H x W`` in [-1, 1]."""
    return torch.from_numpy(image).permute(2, 0, 1).float().div_(127.5).sub_(1.0)


class HintedDataset(Dataset):
    """Items addressed by (epoch, index): the source's example plus its hint for that epoch."""

    def __init__(self, source: Source, hints: HintConfig, run_seed: int) -> None:
        self.source, self.hints, self.run_seed = source, hints, run_seed

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, address: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, str, str]:
        epoch, index = address
        example = self.source[index]
        hint = make_hint(example.image, hint_seed(self.run_seed, example.key, epoch), self.hints)
        return to_pixels(example.image), torch.from_numpy(hint), example.caption, example.key


def collate(items: list[tuple[torch.Tensor, torch.Tensor, str, str]]) -> Batch:
    """Stack items into a `Batch`."""
    pixels, hints, captions, keys = zip(*items, strict=True)
    return Batch(torch.stack(pixels), torch.stack(hints), list(captions), list(keys))


class EpochSampler(Sampler):
    """(epoch, index) addresses forever, one seeded permutation per epoch, starting after ``start_batch``."""

    def __init__(self, size: int, batch_size: int, run_seed: int, start_batch: int = 0) -> None:
        self.size, self.batch_size, self.run_seed, self.start_batch = size, batch_size, run_seed, start_batch
        self.batches_per_epoch = size // batch_size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch, batch = divmod(self.start_batch, self.batches_per_epoch)
        while True:
            order = np.random.default_rng(derive_seed("order", self.run_seed, epoch)).permutation(self.size)
            for position in range(batch * self.batch_size, self.batches_per_epoch * self.batch_size):
                yield epoch, int(order[position])
            epoch, batch = epoch + 1, 0


def _worker_init(_: int) -> None:
    import cv2

    torch.set_num_threads(1)
    cv2.setNumThreads(1)


class TrainStream:
    """An endless iterator of training `Batch`es with a resumable position (batches consumed)."""

    def __init__(self, cfg: RunConfig, start_batch: int = 0) -> None:
        self.cfg = cfg
        self.source = open_source(cfg.data.source, "train", cfg.data.resolution, cfg.data.train_size)
        if len(self.source) < cfg.data.batch_size:
            raise UserError(
                f"data source {cfg.data.source} has {len(self.source)} training items, fewer than "
                f"data.batch_size={cfg.data.batch_size}"
            )
        self.consumed = start_batch
        self._iterator: Iterator[Batch] | None = None

    @property
    def epoch(self) -> int:
        """The epoch the next batch comes from."""
        return self.consumed // (len(self.source) // self.cfg.data.batch_size)

    def _loader(self) -> Iterator[Batch]:
        workers = self.cfg.data.num_workers
        sampler = EpochSampler(len(self.source), self.cfg.data.batch_size, self.cfg.seed, self.consumed)
        loader = DataLoader(
            HintedDataset(self.source, self.cfg.hints, self.cfg.seed),
            batch_size=self.cfg.data.batch_size,
            sampler=sampler,
            num_workers=workers,
            collate_fn=collate,
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
        batch = next(self._iterator)
        self.consumed += 1
        return batch

    def state_dict(self) -> dict[str, int]:
        """The position to resume from."""
        return {"batches": self.consumed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue after ``state["batches"]`` batches (restarts the workers at that position)."""
        self.consumed = int(state["batches"])
        self._iterator = None


def eval_batches(
    cfg: RunConfig, spec: str | None = None, batch_size: int | None = None, num_strokes: int | None = None
) -> list[Batch]:
    """The fixed eval split of ``spec`` (default: the run's source) with fixed hints, as batches.

    Hints depend only on ``cfg.eval.seed``, the item key and the hint settings, never on the run seed, so every
    run and backbone is scored on identical inputs. Eval strokes are never blurred (a person draws crisp
    strokes); ``num_strokes`` fixes the count (stroke adherence curves).
    """
    source = open_source(spec or cfg.data.source, "eval", cfg.data.resolution, cfg.data.eval_size)
    hints = dataclasses.replace(cfg.hints, blur_prob=0.0)
    if num_strokes is not None:
        hints = dataclasses.replace(hints, num_strokes=num_strokes)
    items = []
    for index in range(len(source)):
        example = source[index]
        hint = make_hint(example.image, eval_hint_seed(cfg.eval.seed, example.key), hints)
        items.append((to_pixels(example.image), torch.from_numpy(hint), example.caption, example.key))
    size = batch_size or cfg.data.batch_size
    return [collate(items[i : i + size]) for i in range(0, len(items), size)]
