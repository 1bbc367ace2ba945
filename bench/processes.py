"""The processes of one run under ``accelerate launch``: one writer, one agreed step time, one agreed stop.

Why each step is agreed on: the budget decides when the loop ends and where it checkpoints, so every process
must charge the same dollars, or one would stop while the others wait in the next gradient all-reduce. Each
step the processes exchange (wall seconds, stop requested, counted FLOPs) once and take the slowest wall time
(the step ends for all when the slowest is done), any stop request, and the sum of FLOPs. With one process
every method here is free and returns what it was given.

Faults: a process that dies closes its sockets, so the others fail in their next collective and the launcher
(torchrun, under accelerate) stops them all with a non-zero exit; nothing waits forever.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from accelerate import PartialState
from accelerate.utils import broadcast_object_list, gather_object

from bench.core.errors import UserError

T = TypeVar("T")


class StopSignal:
    """Turns SIGTERM / SIGINT into a flag the loop checks after each step (so it can checkpoint first)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignal:
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (e.g. inside a test runner thread)
                pass
        return self

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.received is not None:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.received = signum

    def __exit__(self, *_: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class Processes:
    """This process's place among the run's processes (accelerate's shared state), and what they agree on."""

    def __init__(self) -> None:
        self.state = PartialState(cpu=not torch.cuda.is_available())

    @property
    def rank(self) -> int:
        return self.state.process_index

    @property
    def count(self) -> int:
        return self.state.num_processes

    @property
    def is_main(self) -> bool:
        return self.state.is_main_process

    def require_one(self, command: str) -> None:
        """Refuse, in one sentence, to run ``command`` on several processes (it does not split its work)."""
        if self.count > 1:
            raise UserError(f"{command} runs on one process; start it without accelerate launch")

    def wait(self) -> None:
        """A barrier: every process reaches here before any goes on."""
        if self.count > 1:
            self.state.wait_for_everyone()

    def on_main(self, write: Callable[[], T]) -> T | None:
        """Run ``write`` on the main process only (the run directory's one writer); the others wait for it."""
        result = write() if self.is_main else None
        self.wait()
        return result

    def from_main(self, obj: T) -> T:
        """The main process's ``obj`` on every process (e.g. a run name made from the clock)."""
        return broadcast_object_list([obj])[0] if self.count > 1 else obj

    def gather(self, obj: T) -> list[T]:
        """Every process's ``obj``, in rank order, on every process."""
        return gather_object([obj]) if self.count > 1 else [obj]

    def agree_on_step(
        self, wall_seconds: float, stop: bool, flops: float, loss: float
    ) -> tuple[float, bool, float, float]:
        """(slowest wall seconds, whether any process was asked to stop, FLOPs summed over processes, mean loss)."""
        if self.count == 1:
            return wall_seconds, stop, flops, loss
        mine = torch.tensor([wall_seconds, float(stop), flops, loss], dtype=torch.float64, device=self.state.device)
        every = [torch.empty_like(mine) for _ in range(self.count)]
        torch.distributed.all_gather(every, mine)
        table = torch.stack(every).cpu()
        return (
            float(table[:, 0].max()),
            bool(table[:, 1].max() > 0),
            float(table[:, 2].sum()),
            float(table[:, 3].mean()),
        )

    def device_kind(self, name: str) -> str:
        """``name``, after checking that every process trains on the same kind of device."""
        kinds = sorted(set(self.gather(name)))
        if len(kinds) > 1:
            raise UserError(
                f"this run's processes are on different devices ({', '.join(kinds)}); launch it on one kind of "
                "device so that one device factor prices every process"
            )
        return name
