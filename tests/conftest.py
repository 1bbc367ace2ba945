"""Test-wide settings: no network, one CPU thread (fast and deterministic on small tensors), offline hubs."""

import os
import socket
from collections.abc import Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tiny models on a busy 2-core machine: OpenMP threads spin-waiting on each other make small ops up to 100x
# slower, so tests (and the subprocesses they start, which inherit this) use one thread.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture
def network_attempts(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Refuse and record every name lookup and connection off this machine; a test asserts the list stays empty."""
    attempts: list[object] = []
    connect, getaddrinfo = socket.socket.connect, socket.getaddrinfo
    local = {"localhost", "127.0.0.1", "::1"}

    def refuse_connect(self: socket.socket, address: object) -> None:
        if self.family == socket.AF_UNIX or (isinstance(address, tuple) and address[0] in local):
            return connect(self, address)
        attempts.append(address)
        raise OSError(f"tests have no network (connect to {address!r})")

    def refuse_lookup(host: object, *args: object, **kwargs: object) -> object:
        if host in local or host is None:
            return getaddrinfo(host, *args, **kwargs)
        attempts.append(host)
        raise socket.gaierror(f"tests have no network (lookup of {host!r})")

    monkeypatch.setattr(socket.socket, "connect", refuse_connect)
    monkeypatch.setattr(socket, "getaddrinfo", refuse_lookup)
    return attempts


#: the settings that make a training run a few steps of a few tiny images, as ``--set`` overrides take them
FAST_OVERRIDES = {
    "data.resolution": "16",
    "data.batch_size": "2",
    "data.num_workers": "0",
    "data.eval_size": "2",
    "optim.effective_batch": "4",
    "eval.steps": "2",
    "budget.usd": "1e-6",
    "budget.mark_every": "0.25",
    "budget.utilisation": "0.001",
}


def fast_overrides(*changes: str, drop: tuple[str, ...] = ()) -> list[str]:
    """`FAST_OVERRIDES` as ``key=value`` strings, with ``changes`` (``"data.eval_size=3"``) replacing or adding
    and the keys in ``drop`` left at the preset's value."""
    settings = {k: v for k, v in FAST_OVERRIDES.items() if k not in drop}
    for change in changes:
        key, _, value = change.partition("=")
        settings[key] = value
    return [f"{key}={value}" for key, value in settings.items()]


@pytest.fixture(scope="session")
def fast() -> Callable[..., list[str]]:
    """`fast_overrides`: ``fast("data.eval_size=3")`` -> the fast run's overrides with that one changed."""
    return fast_overrides
