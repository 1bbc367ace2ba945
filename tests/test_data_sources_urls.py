"""The URL source against a real HTTP server on 127.0.0.1: every bad input is skipped with its reason.

Covers fetching (retries on 5xx and timeouts, none on 4xx, the byte limit, redirects and their schemes), the
on-disk cache (bodies and failures, read back without a request), decoding of odd images, and URL tables.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from data_fixtures import ODD_OUTCOMES, odd_images

from bench.core.errors import UserError
from bench.data import url_cache
from bench.data.fetch import FetchPolicy, fetch
from bench.data.local_server import LocalImageServer, Route
from bench.data.options import SourceOptions
from bench.data.skips import SkippedItem
from bench.data.sources import open_source
from bench.data.url_cache import CachedFetcher, UrlCache
from bench.data.urls import url_key

POLICY = FetchPolicy(timeout_s=0.5, retries=1, backoff_s=0.01, max_bytes=200_000)


@pytest.fixture(scope="module")
def server():
    routes = {f"/{name}": Route(body) for name, body in odd_images().items()}
    routes.update(
        {
            "/flaky.jpg": Route(odd_images()["good.jpg"], fail_first=1),
            "/down.jpg": Route(b"", fail_first=10**6),
            "/slow.jpg": Route(odd_images()["good.jpg"], delay_s=1.5),
            "/to-file.jpg": Route(location="file:///etc/passwd"),
            "/to-ftp.jpg": Route(location="ftp://127.0.0.1/good.jpg"),
            "/to-good.jpg": Route(location="/good.jpg"),
            "/loop.jpg": Route(location="/loop.jpg"),
            "/huge.jpg": Route(b"\xff" * 300_000),
            "/huge-no-length.jpg": Route(b"\xff" * 300_000, no_length=True),
            "/forbidden.jpg": Route(b"no", status=403),
        }
    )
    with LocalImageServer(routes) as running:
        yield running


def _reason(url: str) -> str | None:
    try:
        fetch(url, POLICY)
    except SkippedItem as exc:
        return exc.reason
    return None


@pytest.mark.parametrize(
    ("path", "reason", "requests"),
    [
        ("/good.jpg", None, 1),
        ("/missing.jpg", "http_404", 1),  # a 4xx is final: no retry
        ("/forbidden.jpg", "http_403", 1),
        ("/flaky.jpg", None, 2),  # a 500, then success on the retry
        ("/down.jpg", "http_500", 2),  # retried, then given up
        ("/slow.jpg", "timeout", 2),
        ("/to-file.jpg", "bad_scheme", 1),
        ("/to-ftp.jpg", "bad_scheme", 1),
        ("/to-good.jpg", None, 1),  # an http redirect is followed
        ("/loop.jpg", "too_many_redirects", 6),
        ("/huge.jpg", "too_large", 1),  # refused from its Content-Length
        ("/huge-no-length.jpg", "too_large", 1),  # cut off while reading
    ],
)
def test_fetch_rules(server: LocalImageServer, path: str, reason: str | None, requests: int) -> None:
    before = server.hits[path]
    assert _reason(server.url(path)) == reason
    assert server.hits[path] - before == requests


def test_only_http_urls_are_fetched(tmp_path: Path) -> None:
    (tmp_path / "secret.jpg").write_bytes(b"x")
    for url in (f"file://{tmp_path}/secret.jpg", "ftp://127.0.0.1/x.jpg", "data:image/png;base64,AAAA", "no-scheme"):
        assert _reason(url) == "bad_scheme", url


def _table(
    tmp_path: Path, server: LocalImageServer, names: list[str], captions: list[str | None] | None = None
) -> Path:
    captions = captions or [f"caption of {n}" for n in names]
    path = tmp_path / "urls.jsonl"
    rows = [{"url": server.url(f"/{n}"), "caption": c} for n, c in zip(names, captions, strict=True)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _options(tmp_path: Path, **kw: object) -> SourceOptions:
    base = dict(eval_size=0, cache_dir=str(tmp_path / "cache"), fetch_timeout_s=0.5, fetch_retries=1)
    return SourceOptions(**{**base, "fetch_backoff_s": 0.01, "min_image_side": 8, **kw})


def test_bad_image_matrix_through_the_url_source(tmp_path: Path, server: LocalImageServer) -> None:
    names = list(ODD_OUTCOMES)
    source = open_source(f"urls:{_table(tmp_path, server, names)}", "train", 32, options=_options(tmp_path))
    assert len(source) == len(names) and getattr(source, "remote", False)
    for index, name in enumerate(names):
        try:
            example = source[index]
        except SkippedItem as exc:
            assert exc.reason == ODD_OUTCOMES[name], name
            continue
        assert ODD_OUTCOMES[name] is None, name
        assert example.image.shape == (32, 32, 3) and example.image.dtype == np.uint8, name
        assert example.caption == f"caption of {name}" and example.key == url_key(server.url(f"/{name}"))
    rgba = source[names.index("rgba.png")].image
    assert tuple(rgba[0, 0]) == (255, 255, 255)  # transparent background composited on white


def test_exif_rotation_is_applied(tmp_path: Path, server: LocalImageServer) -> None:
    source = open_source(f"urls:{_table(tmp_path, server, ['exif.jpg', 'good.jpg'])}", options=_options(tmp_path))
    rotated, upright = source[0].image, source[1].image
    assert not np.array_equal(rotated, upright)
    assert np.abs(rotated.astype(int) - np.rot90(upright, -1).astype(int)).mean() < 12  # 90 degrees clockwise


def test_missing_and_empty_captions_are_kept_empty(tmp_path: Path, server: LocalImageServer) -> None:
    table = _table(tmp_path, server, ["good.jpg", "good.png", "gray.png"], ["  a  red\nsky ", "", None])
    source = open_source(f"urls:{table}", options=_options(tmp_path))
    assert [source[i].caption for i in range(3)] == ["a red sky", "", ""]


def test_cache_serves_bodies_and_failures_without_requests(tmp_path: Path, server: LocalImageServer) -> None:
    names = ["good.png", "missing.png", "page.jpg"]
    table = _table(tmp_path, server, names)
    first = open_source(f"urls:{table}", options=_options(tmp_path))
    outcomes = []
    for i in range(3):
        try:
            outcomes.append(first[i].image)
        except SkippedItem as exc:
            outcomes.append(exc.reason)
    hits = dict(server.hits)
    second = open_source(f"urls:{table}", options=_options(tmp_path))
    assert np.array_equal(second[0].image, outcomes[0])
    with pytest.raises(SkippedItem, match="http_404"):
        second[1]
    with pytest.raises(SkippedItem, match="not_image"):  # the body is cached; decoding fails the same way
        second[2]
    assert dict(server.hits) == hits  # no request the second time
    cache = tmp_path / "cache"
    files = [p for p in cache.rglob("*") if p.is_file()]
    assert len([p for p in files if "ok" in p.parts]) == 2 and len([p for p in files if "failed" in p.parts]) == 1
    assert not [p for p in cache.rglob("*") if p.name.endswith(".tmp")]  # atomic writes leave no temp files


def test_url_table_formats(tmp_path: Path, server: LocalImageServer) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    urls = [server.url(f"/img{i}.jpg") for i in range(3)]
    (tmp_path / "cc.tsv").write_text("".join(f"caption {i}\t{u}\n" for i, u in enumerate(urls)))  # headerless
    (tmp_path / "t.csv").write_text("TEXT,image_url\n" + "".join(f"caption {i},{u}\n" for i, u in enumerate(urls)))
    pq.write_table(pa.table({"URL": urls, "prompt": [f"caption {i}" for i in range(3)]}), tmp_path / "t.parquet")
    for name in ("cc.tsv", "t.csv", "t.parquet"):
        source = open_source(f"urls:{tmp_path / name}", options=_options(tmp_path))
        assert source.urls == urls, name
        assert [source.read_caption(r) for r in range(3)] == [f"caption {i}" for i in range(3)], name
    custom = tmp_path / "custom.jsonl"
    custom.write_text("".join(json.dumps({"link2": u, "words": "w"}) + "\n" for u in urls))
    with pytest.raises(UserError, match="url_column"):
        open_source(f"urls:{custom}", options=_options(tmp_path))
    source = open_source(f"urls:{custom}", options=_options(tmp_path, url_column="link2", caption_column="words"))
    assert source.urls == urls


@pytest.mark.parametrize(
    ("content", "name", "needle"),
    [
        (None, "none.jsonl", "not found"),
        ("", "empty.jsonl", "no rows"),
        ("{broken\n", "bad.jsonl", "bad.jsonl:1"),
        ("a,b\n", "x.txt", "must be one of"),
    ],
)
def test_bad_url_tables_are_one_line(tmp_path: Path, content: str | None, name: str, needle: str) -> None:
    if content is not None:
        (tmp_path / name).write_text(content)
    with pytest.raises(UserError, match=needle) as info:
        open_source(f"urls:{tmp_path / name}", options=_options(tmp_path))
    assert "\n" not in str(info.value)


def test_a_url_cached_between_look_and_claim_is_not_fetched_again(tmp_path: Path, monkeypatch) -> None:
    """The race that made `bench benchmark urls` count a request twice: thread A misses the cache, thread B
    finishes fetching the same URL and releases it, then A claims it; A must read B's entry, not fetch again."""
    fetched: list[str] = []
    monkeypatch.setattr(url_cache, "fetch", lambda url, policy: fetched.append(url) or b"fetched")
    cache = UrlCache(tmp_path)
    look = cache.get

    def miss_then_other_thread_finishes(url: str) -> bytes | None:
        body = look(url)
        if body is None and not (tmp_path / "ok").exists():
            cache.put(url, b"the other thread's")
        return body

    monkeypatch.setattr(cache, "get", miss_then_other_thread_finishes)
    assert CachedFetcher(cache, POLICY)("http://127.0.0.1:1/a.jpg") == b"the other thread's"
    assert fetched == []
