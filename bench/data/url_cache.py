"""An on-disk cache of URL bodies (and of final fetch failures), keyed by the URL.

Why: images are fetched while training instead of downloaded up front (no storage bill for images a run
never reaches), yet a second epoch, a resumed run or a second backbone must read the same bytes from disk,
not from a server that may have changed or died meanwhile. Failures are cached too, so every backbone skips
the same items. Writes are atomic (temp file + rename), so concurrent loader processes and a kill at any
moment leave either a complete entry or none. Delete ``<cache>/failed`` to try failed URLs again.

Layout: ``<cache>/ok/ab/<sha256 of url>`` holds a body, ``<cache>/failed/ab/<sha256>`` holds the reason.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from bench.core.atomic import write_bytes, write_text
from bench.data.fetch import FetchPolicy, fetch
from bench.data.skips import SkippedItem


class UrlCache:
    """Bodies and failure reasons of URLs under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _name(self, url: str) -> str:
        digest = hashlib.sha256(url.encode("utf-8")).hexdigest()
        return f"{digest[:2]}/{digest}"

    def body_path(self, url: str) -> Path:
        return self.root / "ok" / self._name(url)

    def failure_path(self, url: str) -> Path:
        return self.root / "failed" / self._name(url)

    def get(self, url: str) -> bytes | None:
        """The cached body; raises the cached `SkippedItem` for a URL that failed before; None when unknown."""
        try:
            return self.body_path(url).read_bytes()
        except FileNotFoundError:
            pass
        try:
            reason = self.failure_path(url).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        raise SkippedItem(reason or "failed", f"{url} (cached failure)")

    def put(self, url: str, body: bytes) -> None:
        write_bytes(self.body_path(url), body)

    def put_failure(self, url: str, reason: str) -> None:
        write_text(self.failure_path(url), reason + "\n")


class CachedFetcher:
    """`fetch` through a `UrlCache`: each URL goes over the network at most once per cache.

    Threads of one process asking for the same URL at once (an item and a substitute that happen to
    coincide) share one request: the first fetches, the others wait for its cache entry.
    """

    def __init__(self, cache: UrlCache, policy: FetchPolicy) -> None:
        self.cache, self.policy = cache, policy
        #: process id -> (lock, URL -> event set when its fetch ends); a forked loader process starts its own,
        #: since the parent's lock state means nothing there (one table per process, never reset under a thread)
        self._claims: dict[int, tuple[threading.Lock, dict[str, threading.Event]]] = {}

    def __getstate__(self) -> dict[str, object]:
        return {"cache": self.cache, "policy": self.policy}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__(state["cache"], state["policy"])  # type: ignore[misc, arg-type]

    def _process_claims(self) -> tuple[threading.Lock, dict[str, threading.Event]]:
        pid = os.getpid()
        claims = self._claims.get(pid)
        return claims if claims is not None else self._claims.setdefault(pid, (threading.Lock(), {}))

    def _claim(self, url: str) -> threading.Event | None:
        """None when this thread should fetch ``url``; else the event that signals the other fetch ended."""
        lock, in_flight = self._process_claims()
        with lock:
            event = in_flight.get(url)
            if event is None:
                in_flight[url] = threading.Event()
            return event

    def __call__(self, url: str) -> bytes:
        """The body of ``url``; raises `SkippedItem` (fresh or cached) when it cannot be had."""
        while True:
            body = self.cache.get(url)
            if body is not None:
                return body
            other = self._claim(url)
            if other is None:
                break
            other.wait()
        try:
            body = self.cache.get(url)  # another thread may have written it between our look and our claim
            if body is not None:
                return body
            try:
                body = fetch(url, self.policy)
            except SkippedItem as exc:
                self.cache.put_failure(url, exc.reason)
                raise
            self.cache.put(url, body)
            return body
        finally:  # the entry is written (or the fetch crashed): let waiting threads read it or try themselves
            lock, in_flight = self._process_claims()
            with lock:
                in_flight.pop(url).set()
