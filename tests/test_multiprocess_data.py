"""Each process's slice of the stream: disjoint, its union the one-process stream, resumable, for every source kind.

The processes are simulated in one process (a `TrainStream` per rank): the slicing is a pure function of
(rank, processes, position), so this checks what a launched run draws without launching one.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from data_fixtures import encode, picture, with_data, write_folder, write_hf_dataset, write_shards

from bench.config import RunConfig, resolve_config
from bench.data.loader import TrainStream
from bench.data.local_server import LocalImageServer, Route

COUNT = 16


def _source(kind: str, tmp_path: Path, server: LocalImageServer) -> str:
    if kind == "builtin":
        return "builtin:shapes"
    if kind == "folder":
        return f"folder:{write_folder(tmp_path / 'folder', COUNT)}"
    if kind == "wds":
        return f"wds:{write_shards(tmp_path / 'shards', COUNT, shards=3)}"
    if kind == "hf":
        return f"hf:{write_hf_dataset(tmp_path / 'hf', COUNT)}"
    table = tmp_path / "urls.jsonl"
    rows = [{"url": server.url(f"/img{i}.jpg"), "caption": f"p {i}"} for i in range(COUNT)]
    table.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return f"urls:{table}"


@pytest.fixture(scope="module")
def server():
    with LocalImageServer({f"/img{i}.jpg": Route(encode(picture(i), "JPEG")) for i in range(COUNT)}) as running:
        yield running


def _cfg(source: str, tmp_path: Path) -> RunConfig:
    cfg = resolve_config("sd", "tiny")
    fields = {"source": source, "resolution": 16, "batch_size": 2, "num_workers": 0, "train_size": 12, "eval_size": 4}
    return with_data(cfg, cache_dir=str(tmp_path / "cache"), **fields)


def _same(a, b) -> bool:
    return a.keys == b.keys and torch.equal(a.hint, b.hint) and torch.equal(a.pixels, b.pixels)


@pytest.mark.parametrize("kind", ["builtin", "folder", "wds", "hf", "urls"])
def test_slices_are_disjoint_and_their_union_is_the_one_process_stream(
    kind: str, tmp_path: Path, server: LocalImageServer
) -> None:
    cfg = _cfg(_source(kind, tmp_path, server), tmp_path)
    single = [next(iter_) for iter_ in [TrainStream(cfg)] for _ in range(8)]  # 8 micro-batches: 1.33 epochs
    ranks = [TrainStream(cfg, rank=r, processes=2) for r in range(2)]
    sliced = [[next(stream) for _ in range(4)] for stream in ranks]
    for step in range(4):
        mine, theirs = sliced[0][step], sliced[1][step]
        assert not set(mine.keys) & set(theirs.keys)  # within an epoch, one global batch never repeats a key
        assert _same(mine, single[2 * step]) and _same(theirs, single[2 * step + 1])


def test_every_process_resumes_at_its_own_position(tmp_path: Path) -> None:
    cfg = dataclasses.replace(_cfg("builtin:shapes", tmp_path), seed=3)
    uninterrupted = [[next(s) for _ in range(5)] for s in (TrainStream(cfg, rank=r, processes=2) for r in range(2))]
    for rank in range(2):
        stream = TrainStream(cfg, rank=rank, processes=2)
        for _ in range(3):
            next(stream)
        state = stream.state_dict()
        resumed = TrainStream(cfg, rank=rank, processes=2)
        resumed.load_state_dict(state)
        assert all(_same(a, next(resumed)) for a in uninterrupted[rank][3:])
        assert resumed.epoch == (5 * 2 + rank) // (12 // 2)
