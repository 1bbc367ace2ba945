"""The fixed eval split of a source, with fixed hints, as batches (`eval_batches`).

Hints depend only on ``cfg.eval.seed``, the item key and the hint settings, never on the run seed, so every run
and backbone is scored on identical inputs; items that fail to load are dropped (never substituted) and counted.
"""

from __future__ import annotations

import dataclasses

import torch

from backbones.base import Batch
from bench.config import RunConfig
from bench.core.errors import UserError
from bench.data.loader import collate, to_pixels
from bench.data.options import SourceOptions
from bench.data.prefetch import ThreadPool
from bench.data.seeds import eval_hint_seed
from bench.data.skips import EMPTY_CAPTION, SkippedItem, SkipTally
from bench.data.sources import Example, Source, open_source
from hints import make_hint


def eval_examples(source: Source, options: SourceOptions, tally: SkipTally) -> list[Example]:
    """Every item of a fixed eval split that loads, in order (many at a time for a remote source).

    Eval items are never substituted (the eval set must not depend on which items failed to load where);
    a failed one is dropped and counted in ``tally``.
    """
    indices = range(len(source))

    def load(index: int) -> Example | SkippedItem:
        try:
            return source[index]
        except SkippedItem as exc:
            return exc

    if getattr(source, "remote", False):
        pool = ThreadPool(min(options.fetch_threads, len(source)) or 1)
        try:
            loaded = [f.result() for f in [pool.submit(load, i) for i in indices]]
        finally:
            pool.close()
    else:
        loaded = [load(i) for i in indices]
    examples = [x for x in loaded if isinstance(x, Example)]
    tally.add(len(examples), [x.reason for x in loaded if isinstance(x, SkippedItem)])
    tally.add(0, [], sum(1 for x in examples if not x.caption))
    return examples


def eval_batches(
    cfg: RunConfig,
    spec: str | None = None,
    batch_size: int | None = None,
    num_strokes: int | None = None,
    tally: SkipTally | None = None,
) -> list[Batch]:
    """The fixed eval split of ``spec`` (default: the run's source) with fixed hints, as batches.

    Hints depend only on ``cfg.eval.seed``, the item key and the hint settings, never on the run seed, so every
    run and backbone is scored on identical inputs. Eval strokes are never blurred (a person draws crisp
    strokes); ``num_strokes`` fixes the count (stroke adherence curves). Items that fail to load are dropped
    and counted in ``tally`` (pass one to report them); more than ``data.max_failure_share`` of them failing
    is a `UserError`.
    """
    spec = spec or cfg.data.source
    options = SourceOptions.from_config(cfg.data)
    source = open_source(spec, "eval", cfg.data.resolution, cfg.data.eval_size, options)
    tally = tally if tally is not None else SkipTally(spec, options.max_failure_share)
    examples = eval_examples(source, options, tally)
    if len(source) and (not examples or 1 - len(examples) / len(source) > options.max_failure_share):
        skipped = {k: v for k, v in tally.counts().items() if k != EMPTY_CAPTION}
        raise UserError(
            f"eval split of {spec}: {len(source) - len(examples)} of {len(source)} items failed to load "
            f"({', '.join(f'{k}: {v}' for k, v in skipped.items())}); check the source"
        )
    hints = dataclasses.replace(cfg.hints, blur_prob=0.0)
    if num_strokes is not None:
        hints = dataclasses.replace(hints, num_strokes=num_strokes)
    items = []
    for example in examples:
        hint = make_hint(example.image, eval_hint_seed(cfg.eval.seed, example.key), hints)
        items.append((to_pixels(example.image), torch.from_numpy(hint), example.caption, example.key))
    size = batch_size or cfg.data.batch_size
    return [collate(items[i : i + size]) for i in range(0, len(items), size)]
