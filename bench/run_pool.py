"""Independent runs trained or evaluated side by side in worker processes, each on its share of the CPU.

Why processes: a tiny training step is many small operations that do not use two cores well, and a run's
result does not depend on wall time where its budget is FLOP-metered (every CPU run), so N runs on N cores
finish sooner than N runs one after another. A wall-clock-metered run (on a GPU) keeps its device to itself:
`parallel_jobs` returns 1 there. Each worker pins its torch and OpenMP threads, so parallel runs do not fight
over cores.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

import torch


def cpu_cores() -> int:
    """Cores this process may use (the affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def parallel_jobs(requested: int, runs: int, flop_metered: bool) -> int:
    """How many runs to train at once: ``requested`` if given (>= 1), else one per core where every budget is
    FLOP-metered, else 1 (wall-clock budgets keep their device to themselves)."""
    if requested:
        return max(1, min(requested, runs))
    if not flop_metered or torch.cuda.is_available():
        return 1
    return max(1, min(cpu_cores(), runs))


def threads_per_job(jobs: int) -> int:
    """Torch threads for each of ``jobs`` parallel workers: ``OMP_NUM_THREADS`` where the user set it (as for
    `bench train`), else the cores split evenly, at least one."""
    wanted = os.environ.get("OMP_NUM_THREADS", "")
    if wanted.isdigit() and int(wanted) > 0:
        return int(wanted)
    return max(1, cpu_cores() // jobs)


def _start_worker(threads: int, registry: dict[str, str]) -> None:
    """Pin the worker's threads and give it the parent's backbone registry (a plugin or test may add names)."""
    import backbones

    # OMP_NUM_THREADS makes the training loop keep torch's count instead of choosing its own (bench.train)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    backbones._REGISTRY.update(registry)


@dataclass
class Outcome:
    """What one task returned, or the one-line error it raised."""

    label: str
    value: Any = None
    #: one line: a user's mistake, or the last line of a bug's traceback
    error: str | None = None
    #: a bug's whole traceback (None for a user's mistake)
    trace: str | None = None


def run_all(
    tasks: Iterable[tuple[str, Callable[..., Any], tuple[Any, ...]]],
    jobs: int,
    on_done: Callable[[Outcome], None] | None = None,
) -> Iterator[Outcome]:
    """Run ``(label, function, args)`` tasks on ``jobs`` worker processes (in this process when 1) and yield
    each outcome as it finishes. A task's exception becomes its outcome's error; the others go on."""
    tasks = list(tasks)
    if jobs <= 1:
        for label, fn, args in tasks:
            outcome = _call(label, fn, args)
            if on_done:
                on_done(outcome)
            yield outcome
        return
    context = get_context("spawn")  # fork would copy torch's thread pools and any open loader workers
    import backbones

    start = (threads_per_job(jobs), dict(backbones._REGISTRY))
    pool = ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker, initargs=start)
    try:
        pending: dict[Future[Outcome], str] = {pool.submit(_call, label, fn, args): label for label, fn, args in tasks}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                label = pending.pop(future)
                try:
                    outcome = future.result()
                except Exception as exc:  # a worker that died (killed, out of memory) fails its task only
                    outcome = Outcome(label, error=f"its worker process stopped ({type(exc).__name__}: {exc})")
                if on_done:
                    on_done(outcome)
                yield outcome
    finally:
        # Ctrl-C reaches the workers too (a training checkpoints and returns); queued tasks must not start
        pool.shutdown(wait=True, cancel_futures=True)


def _call(label: str, fn: Callable[..., Any], args: tuple[Any, ...]) -> Outcome:
    from bench.core.errors import UserError

    try:
        return Outcome(label, fn(*args))
    except UserError as exc:
        return Outcome(label, error=str(exc))
    except Exception as exc:  # a bug in one run: keep its traceback, let the other runs finish
        return Outcome(label, error=f"{type(exc).__name__}: {exc}", trace=traceback.format_exc())
