"""The loader: batch layout, hints per epoch, resume position, worker independence, fixed eval split."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from bench.config import RunConfig, resolve_config
from bench.core.errors import UserError
from bench.data.eval_split import eval_batches
from bench.data.loader import TrainStream


def _cfg(**data) -> RunConfig:
    cfg = resolve_config("sd", "tiny")
    fields = {"resolution": 32, "batch_size": 4, "num_workers": 0, "train_size": 12, "eval_size": 6, **data}
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, **fields))


def _take(stream: TrainStream, n: int) -> list:
    return [next(stream) for _ in range(n)]


def test_batch_layout() -> None:
    batch = next(TrainStream(_cfg()))
    assert batch.pixels.shape == (4, 3, 32, 32) and batch.hint.shape == (4, 5, 32, 32)
    assert batch.pixels.dtype == torch.float32 and -1.0 <= batch.pixels.min() and batch.pixels.max() <= 1.0
    assert 0.0 <= batch.hint.min() and batch.hint.max() <= 1.0
    assert len(batch.captions) == len(batch.keys) == 4 and all(batch.captions)


def test_epochs_reshuffle_and_redraw_hints() -> None:
    batches = _take(TrainStream(_cfg()), 6)  # 3 batches per epoch
    first = sorted(k for b in batches[:3] for k in b.keys)
    second = sorted(k for b in batches[3:] for k in b.keys)
    assert first == second and len(set(first)) == 12  # each epoch sees every item once
    hints = {k: h for b in batches[:3] for k, h in zip(b.keys, b.hint, strict=True)}
    later = {k: h for b in batches[3:] for k, h in zip(b.keys, b.hint, strict=True)}
    assert any(not torch.equal(hints[k], later[k]) for k in hints)  # new strokes each epoch


def test_resume_continues_with_the_same_batches() -> None:
    full = _take(TrainStream(_cfg()), 7)
    stream = TrainStream(_cfg())
    _take(stream, 4)
    state = stream.state_dict()
    resumed = TrainStream(_cfg())
    resumed.load_state_dict(state)
    for a, b in zip(full[4:], _take(resumed, 3), strict=True):
        assert a.keys == b.keys and torch.equal(a.hint, b.hint) and torch.equal(a.pixels, b.pixels)


@pytest.mark.slow
def test_workers_do_not_change_batches() -> None:
    plain = _take(TrainStream(_cfg(num_workers=0)), 4)
    workers = _take(TrainStream(_cfg(num_workers=2)), 4)
    for a, b in zip(plain, workers, strict=True):
        assert a.keys == b.keys and torch.equal(a.hint, b.hint)


def test_run_seed_changes_order_and_hints() -> None:
    a = next(TrainStream(_cfg()))
    b = next(TrainStream(dataclasses.replace(_cfg(), seed=1)))
    assert a.keys != b.keys or not torch.equal(a.hint, b.hint)


def test_eval_split_is_fixed_across_runs() -> None:
    one = eval_batches(_cfg())
    two = eval_batches(dataclasses.replace(_cfg(), seed=99))
    assert [b.keys for b in one] == [b.keys for b in two]
    for a, b in zip(one, two, strict=True):
        assert torch.equal(a.hint, b.hint)
    assert sum(len(b) for b in one) == 6 and one[0].keys[0] == "shapes/eval/0"
    assert all(set(torch.unique(b.hint[:, 4]).tolist()) <= {0.0, 1.0} for b in one)  # never blurred


def test_eval_stroke_count_override() -> None:
    one = eval_batches(_cfg(), num_strokes=1)
    many = eval_batches(_cfg(), num_strokes=16)
    assert sum(b.hint[:, 4].sum() for b in one) < sum(b.hint[:, 4].sum() for b in many)


def test_too_small_source_is_a_user_error() -> None:
    with pytest.raises(UserError, match="batch_size"):
        TrainStream(_cfg(train_size=2))
