"""Each user-data source kind (folder, hf, urls, wds) yields the same examples, splits by key, and trains.

The fixtures are tiny and local: a folder of PNGs, a `datasets` dataset saved to disk, two WebDataset tar
shards, and a URL table served by a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import fast_overrides
from data_fixtures import (
    ODD_OUTCOMES,
    encode,
    odd_images,
    picture,
    with_data,
    write_folder,
    write_hf_dataset,
    write_shards,
)

import backbones
from bench.config import resolve_config
from bench.core.errors import UserError
from bench.data.local_server import LocalImageServer, Route
from bench.data.options import SourceOptions
from bench.data.skips import SkippedItem
from bench.data.sources import open_source
from bench.rundir import RunDir
from bench.train import start_run, train_run

COUNT = 20
OPTIONS = SourceOptions(eval_size=4, min_image_side=8)


@pytest.fixture(scope="module")
def server():
    routes = {f"/img{i}.jpg": Route(encode(picture(i), "JPEG")) for i in range(COUNT)}
    with LocalImageServer(routes) as running:
        yield running


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory, server: LocalImageServer) -> dict[str, str]:
    root = tmp_path_factory.mktemp("kinds")
    table = root / "urls.jsonl"
    table.write_text(
        "".join(json.dumps({"url": server.url(f"/img{i}.jpg"), "text": f"p {i}"}) + "\n" for i in range(COUNT))
    )
    return {
        "folder": f"folder:{write_folder(root / 'folder', COUNT)}",
        "hf": f"hf:{write_hf_dataset(root / 'dataset', COUNT)}",
        "urls": f"urls:{table}",
        "wds": f"wds:{write_shards(root / 'shards', COUNT)}",
    }


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STROKEBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(backbones._REGISTRY, "fake", "fakes:FakeBackbone")


@pytest.mark.parametrize("kind", ["folder", "hf", "urls", "wds"])
def test_every_kind_yields_examples_and_a_disjoint_fixed_eval_split(specs: dict[str, str], kind: str) -> None:
    train = open_source(specs[kind], "train", 24, options=OPTIONS)
    evals = open_source(specs[kind], "eval", 24, options=OPTIONS)
    assert len(train) == COUNT - 4 and len(evals) == 4
    train_keys = [train[i].key for i in range(len(train))]
    eval_keys = [evals[i].key for i in range(len(evals))]
    assert not set(train_keys) & set(eval_keys) and len(set(train_keys)) == len(train_keys)
    again = open_source(specs[kind], "eval", 24, options=OPTIONS)
    assert [again[i].key for i in range(4)] == eval_keys  # fixed: a pure function of the keys
    example = train[0]
    assert example.image.shape == (24, 24, 3) and example.image.dtype == np.uint8
    assert example.caption.startswith("p") and example.key.startswith({"urls": "url"}.get(kind, kind) + "/")


def test_folder_captions_from_txt_files_and_stable_keys(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "f", COUNT, captions="txt")
    (root / ".hidden.png").write_bytes(encode(picture(99), "PNG"))  # ignored
    source = open_source(f"folder:{root}", options=OPTIONS)
    keys = sorted(source.keys)
    assert keys[0] == "folder/img000.png" and "folder/sub/img001.png" in keys and len(keys) == COUNT
    assert all(source.read_caption(r) == f"picture number {int(source.files[r][-7:-4])}" for r in range(COUNT))


def test_folder_bad_images_and_listed_but_missing_files_are_counted_skips(tmp_path: Path) -> None:
    root = tmp_path / "odd"
    root.mkdir()
    for name, data in odd_images().items():
        (root / name).write_bytes(data)
    (root / "metadata.jsonl").write_text(json.dumps({"file_name": "gone.png", "text": "lost"}) + "\n")
    source = open_source(f"folder:{root}", "train", 32, options=SourceOptions(eval_size=0, min_image_side=8))
    outcomes = {}
    for index, row in enumerate(source.rows):
        try:
            source[index]
            outcomes[source.files[row]] = None
        except SkippedItem as exc:
            outcomes[source.files[row]] = exc.reason
    assert outcomes == {**ODD_OUTCOMES, "gone.png": "missing_file"}


def test_hf_image_and_url_datasets(tmp_path: Path, server: LocalImageServer) -> None:
    import datasets

    urls = [server.url(f"/img{i}.jpg") for i in range(COUNT)]
    datasets.Dataset.from_dict({"image_url": urls, "caption": [f"p {i}" for i in range(COUNT)]}).save_to_disk(
        str(tmp_path / "cc")
    )
    source = open_source(f"hf:{tmp_path / 'cc'}", options=OPTIONS)
    assert getattr(source, "remote", False) and source[0].image.shape == (64, 64, 3)
    picked = open_source(
        f"hf:{write_hf_dataset(tmp_path / 'img', COUNT)}", options=SourceOptions(eval_size=4, caption_column="text")
    )
    assert picked[0].caption.startswith("picture ")
    with pytest.raises(UserError, match="no column 'nope'"):
        open_source(f"hf:{tmp_path / 'img'}", options=SourceOptions(image_column="nope"))


def test_hf_streaming_reads_the_first_rows_of_a_local_imagefolder(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "folder", COUNT)
    options = SourceOptions(eval_size=4, streaming=True, train_size=10, min_image_side=8)
    source = open_source(f"hf:{root}:train", "train", 16, options=options)
    assert len(source) == 10 and source[0].caption.startswith("picture number")
    with pytest.raises(UserError, match="validation"):
        open_source(f"hf:{root}:validation", options=options)


def test_wds_patterns(tmp_path: Path) -> None:
    pattern = write_shards(tmp_path / "s", COUNT, shards=2)
    by_glob = open_source(f"wds:{tmp_path / 's'}/shard-*.tar", options=OPTIONS)
    by_brace = open_source(f"wds:{pattern}", options=OPTIONS)
    assert by_glob.keys == by_brace.keys and by_brace.keys[0] == "wds/shard-000.tar/s00000"
    assert by_brace.read_caption(0) == "picture number 0" and by_brace.read_caption(1) == "picture number 1"


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("folder:/no/such/folder", "not found"),
        ("wds:/no/such/shard-{000..001}.tar", "not found"),
        ("wds:http://host/shard.tar", "local files"),
        ("urls:/no/such/table.jsonl", "not found"),
        ("hf:/no/such/dataset", "could not load"),
    ],
)
def test_bad_specs_are_one_line(spec: str, needle: str) -> None:
    with pytest.raises(UserError, match=needle) as info:
        open_source(spec)
    assert "\n" not in str(info.value)


def test_too_few_items_for_the_eval_split(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "few", 3)
    with pytest.raises(UserError, match="eval_size=16"):
        open_source(f"folder:{root}")


FAST = fast_overrides("budget.usd=2e-7", "budget.mark_every=0.5")


@pytest.mark.parametrize("kind", ["folder", "hf", "urls", "wds"])
def test_a_tiny_run_trains_from_each_kind(specs: dict[str, str], kind: str, tmp_path: Path) -> None:
    cfg = with_data(resolve_config("fake", "tiny", overrides=FAST), source=specs[kind])
    run = start_run(cfg, tmp_path / "run")
    result = train_run(cfg, run, resume=False, quiet=True)
    assert result.steps > 0 and not result.interrupted and result.samples_file is not None
    assert RunDir(tmp_path / "run").latest() is not None
