"""A small pool of daemon threads, for reading remote items many at a time ahead of the consumer.

Why not `concurrent.futures.ThreadPoolExecutor`: its threads are joined at interpreter exit after running
everything still queued, so a loader process holding a lookahead of slow URLs would hang on exit for seconds.
Here the threads are daemons and `close` cancels what has not started. Threads suffice: a fetch waits on the
network with the GIL released, and JPEG decoding and resizing release it too.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class ThreadPool:
    """``threads`` daemon threads running submitted calls in submission order."""

    def __init__(self, threads: int, name: str = "strokebench-prefetch") -> None:
        import cv2

        # Each reading thread resizes on its own: OpenCV's internal thread pool would only oversubscribe the
        # cores, and once started in this process it deadlocks a later fork (a DataLoader worker calling
        # cv2.setNumThreads waits forever on the copied pool's condition variables).
        cv2.setNumThreads(1)
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._threads = [threading.Thread(target=self._run, name=f"{name}-{i}", daemon=True) for i in range(threads)]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Queue ``fn(*args)``; its result (or exception) arrives in the returned future."""
        future: Future[T] = Future()
        self._queue.put((future, fn, args))
        return future

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            future, fn, args = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args)
            except BaseException as exc:  # handed to the consumer, which re-raises it
                future.set_exception(exc)
            else:
                future.set_result(result)

    def close(self) -> None:
        """Cancel queued calls and let the threads end (calls already running finish on their own)."""
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job[0].cancel()
        for _ in self._threads:
            self._queue.put(None)
