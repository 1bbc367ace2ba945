"""One image body over HTTP(S): timeouts, retries with backoff, a byte limit, and only http(s) schemes.

Why these rules: training reads images from URLs it does not control (dead links, overloaded hosts, error
pages, redirects to odd places). A 5xx, a timeout or a dropped connection may pass, so it is retried with
exponential backoff; a 4xx will not, so it is not. Every redirect hop is followed by hand so its scheme can
be checked (a ``file://`` or ``ftp://`` target is refused, not read). Bodies larger than the limit are refused
from their Content-Length or cut off while reading, and a whole-body deadline stops a server that drips bytes.
Failures are `SkippedItem`s with reasons such as ``http_404``, ``http_503``, ``timeout``, ``too_large``,
``bad_scheme``; the loader counts them.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from bench.data.options import SourceOptions
from bench.data.skips import SkippedItem

ALLOWED_SCHEMES = ("http", "https")
MAX_REDIRECTS = 5
USER_AGENT = "strokebench/0.1 (research benchmark; image fetch during training)"
_CHUNK = 1 << 16


@dataclass(frozen=True)
class FetchPolicy:
    """Limits of one fetch: seconds per attempt, extra attempts, first backoff (seconds), bytes."""

    timeout_s: float = 10.0
    retries: int = 2
    backoff_s: float = 0.5
    max_bytes: int = 20_000_000

    @classmethod
    def from_options(cls, options: SourceOptions) -> FetchPolicy:
        return cls(options.fetch_timeout_s, options.fetch_retries, options.fetch_backoff_s, options.max_image_bytes)


class _Transient(Exception):
    """A failure worth another attempt (5xx, timeout, dropped connection)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hands every 3xx back as an `HTTPError`, so `fetch` follows redirects itself and checks each scheme."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def fetch(url: str, policy: FetchPolicy, sleep: Callable[[float], None] = time.sleep) -> bytes:
    """The body at ``url``; raises `SkippedItem` once the attempts are used up or the failure is final."""
    reason = "timeout"
    for attempt in range(policy.retries + 1):
        try:
            return _fetch_once(url, policy)
        except _Transient as exc:
            reason = exc.reason
            if attempt < policy.retries:
                sleep(policy.backoff_s * 2**attempt)
    raise SkippedItem(reason, url)


def _fetch_once(url: str, policy: FetchPolicy) -> bytes:
    deadline = time.monotonic() + policy.timeout_s
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        if urlsplit(current).scheme.lower() not in ALLOWED_SCHEMES:
            raise SkippedItem("bad_scheme", current if current == url else f"{url} redirects to {current}")
        request = urllib.request.Request(current, headers={"User-Agent": USER_AGENT})
        try:
            with _OPENER.open(request, timeout=policy.timeout_s) as response:
                return _read_body(response, policy, deadline, url)
        except urllib.error.HTTPError as exc:
            exc.close()
            location = exc.headers.get("Location") if exc.headers else None
            if 300 <= exc.code < 400 and location:
                current = urljoin(current, location)
                continue
            if exc.code >= 500:
                raise _Transient(f"http_{exc.code}") from None
            raise SkippedItem(f"http_{exc.code}", url) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise _Transient("timeout") from None
            if isinstance(exc.reason, str) or isinstance(exc.reason, ValueError):
                raise SkippedItem("bad_url", f"{url} ({exc.reason})") from None
            raise _Transient("connection") from None
        except TimeoutError:
            raise _Transient("timeout") from None
        except (http.client.InvalidURL, ValueError) as exc:
            raise SkippedItem("bad_url", f"{url} ({exc})") from None
        except (ConnectionError, http.client.HTTPException, OSError):
            raise _Transient("connection") from None
    raise SkippedItem("too_many_redirects", url)


def _read_body(response: http.client.HTTPResponse, policy: FetchPolicy, deadline: float, url: str) -> bytes:
    length = response.headers.get("Content-Length", "")
    expected = int(length) if length.strip().isdigit() else None
    if expected is not None and expected > policy.max_bytes:
        raise SkippedItem("too_large", f"{url} ({expected} bytes)")
    chunks, total = [], 0
    while True:
        if time.monotonic() > deadline:
            raise _Transient("timeout")
        chunk = response.read1(_CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > policy.max_bytes:
            raise SkippedItem("too_large", f"{url} (more than {policy.max_bytes} bytes)")
        chunks.append(chunk)
    if expected is not None and total != expected:
        raise _Transient("incomplete_body")
    return b"".join(chunks)
