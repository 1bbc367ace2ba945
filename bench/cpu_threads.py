"""How many torch threads a CPU training step takes, and a block run on that many."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from backbones.base import BackboneConfig
from bench.config import RunConfig


def training_threads(cfg: RunConfig, model: BackboneConfig) -> int | None:
    """Torch threads for a training step on this CPU, or None to leave torch's (a GPU, or OMP_NUM_THREADS set).

    By default the data workers keep their cores (OpenMP threads competing with them spin-wait, which makes small
    CPU steps slower), but the step keeps two threads: with the tiny preset's one light worker, 2 threads train
    the tiny sd faster than 1 (results/NOTES.md). A backbone's ``cpu_threads`` overrides that where its step is
    many small operations (the tiny cascade trains faster on one thread). ``model`` is the backbone's config."""
    if torch.cuda.is_available() or "OMP_NUM_THREADS" in os.environ:
        return None
    wanted = int(model.cpu_threads)  # validate_config refused a negative one
    cores = os.cpu_count() or 1
    return wanted or min(cores, max(2, cores - cfg.data.num_workers))


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block on ``threads`` torch threads (None: as they are), then restore the previous count, so that
    what runs after a training in the same process (`bench run`'s evaluation) keeps its own."""
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
