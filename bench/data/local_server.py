"""A local HTTP image server on 127.0.0.1 with simulated latency and scripted misbehaviour.

Why it is in the package: `bench benchmark urls` measures the URL source against it (200 ms per request, as
a far-away image host), and the tests use it to play every bad server the URL fetcher must survive (404, a
500 then success, a slow answer, a redirect to ``file://``, an endless body) without any outside network.
Each request runs in its own thread, so latency overlaps the way it does on the internet.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Route:
    """How the server answers one path."""

    body: bytes = b""
    status: int = 200
    content_type: str = "image/jpeg"
    #: answer 500 to the first this many requests, then normally
    fail_first: int = 0
    #: seconds to wait before answering (on top of the server's latency)
    delay_s: float = 0.0
    #: answer 302 with this Location
    location: str = ""
    #: send no Content-Length (the body ends when the connection closes)
    no_length: bool = False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:  # a client that gave up: not news
        pass


class LocalImageServer:
    """Serves ``routes`` (path -> `Route`) on a free port of 127.0.0.1; counts requests per path in ``hits``."""

    def __init__(self, routes: dict[str, Route] | None = None, latency_s: float = 0.0) -> None:
        self.routes = dict(routes or {})
        self.latency_s = latency_s
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-image-server", daemon=True)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server naming
                owner._answer(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

        return Handler

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        with self._lock:
            self.hits[path] += 1
            count = self.hits[path]
        route = self.routes.get(path)
        time.sleep(self.latency_s + (route.delay_s if route else 0.0))
        if route is None:
            return self._send(handler, 404, b"not found", "text/plain")
        if count <= route.fail_first:
            return self._send(handler, 500, b"try again", "text/plain")
        if route.location:
            handler.send_response(302)
            handler.send_header("Location", route.location)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return None
        return self._send(handler, route.status, route.body, route.content_type, not route.no_length)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, kind: str, length: bool = True) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", kind)
            if length:
                handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            pass

    def url(self, path: str) -> str:
        """The full URL of ``path`` on this server."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def start(self) -> LocalImageServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LocalImageServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()
