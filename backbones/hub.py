"""Loading pretrained weights from the Hub or a local folder, failing fast with one sentence when they are absent.

Why a wrapper: without network, `from_pretrained` on a hub id either retries for minutes or raises a stack of
urllib / huggingface_hub errors; a gated repository (DeepFloyd IF) raises yet another kind. Every full preset loads
through `load_pretrained`, so all of them fail the same way: which weights, how to fetch them, what
``HF_HUB_OFFLINE`` does.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

from bench.core.errors import UserError


def _is_local(source: str) -> bool:
    return Path(source).expanduser().exists()


def _fetch_hint(source: str, subfolder: str | None, gated: bool) -> str:
    where = f"{source}" + (f" (subfolder {subfolder})" if subfolder else "")
    command = f"`huggingface-cli download {source}`"
    gate = (
        f"; the repository is gated: accept its license at https://huggingface.co/{source} and log in "
        "(`huggingface-cli login`) first"
        if gated
        else ""
    )
    offline = " (HF_HUB_OFFLINE=1 is set, so nothing is downloaded)" if os.environ.get("HF_HUB_OFFLINE") else ""
    return (
        f"the weights {where} are not available here{offline}: fetch them once with {command} on a machine "
        f"with network{gate}, or pass a local folder"
    )


def _explain(exc: Exception, source: str, subfolder: str | None, what: str, gated: bool) -> UserError:
    """One sentence for a loading failure that is the user's environment, not a bug."""
    text = f"{type(exc).__name__}: {exc}"
    if "gated" in text.lower() or "401" in text or "403" in text:
        return UserError(
            f"{what}: access to {source} was refused; it is a gated repository: accept its license at "
            f"https://huggingface.co/{source}, run `huggingface-cli login`, then `huggingface-cli download {source}`"
        )
    return UserError(f"{what}: {_fetch_hint(source, subfolder, gated)}")


def _hub_errors() -> tuple[type[BaseException], ...]:
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    return (OSError, LocalEntryNotFoundError, OfflineModeIsEnabled, HfHubHTTPError, EnvironmentError)


def _local_path(source: str, subfolder: str | None) -> Path:
    path = Path(source).expanduser()
    return path / subfolder if subfolder else path


def load_pretrained(
    cls: Any, source: str, *, subfolder: str | None = None, what: str, gated: bool = False, **kwargs: Any
) -> Any:
    """``cls.from_pretrained(source, subfolder=...)`` with one-sentence errors for missing or gated weights.

    ``source`` is a hub id or a local folder; ``what`` names the part for the message ("SD 1.5 UNet"). Only
    safetensors are accepted where the class supports the switch (never unpickle downloaded files).
    """
    if _is_local(source) and not _local_path(source, subfolder).exists():
        raise UserError(f"{what}: the folder {_local_path(source, subfolder)} does not exist")
    if subfolder:
        kwargs["subfolder"] = subfolder
    try:
        with warnings.catch_warnings():  # huggingface_hub's deprecation notices about its own arguments
            warnings.simplefilter("ignore")
            return cls.from_pretrained(source, local_files_only=True, **kwargs)
    except _hub_errors() as exc:
        if _is_local(source) or os.environ.get("HF_HUB_OFFLINE") or not hub_reachable():
            raise _explain(exc, source, subfolder, what, gated) from None
    try:
        return cls.from_pretrained(source, **kwargs)
    except _hub_errors() as exc:
        raise _explain(exc, source, subfolder, what, gated) from None


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hub answers a TCP connect within ``timeout`` s: without network, fail now, not after retries."""
    import socket
    from urllib.parse import urlparse

    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection((endpoint.hostname or "huggingface.co", endpoint.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def load_config(cls: Any, source: str, *, subfolder: str | None = None, fallback: Path | None = None) -> dict:
    """The architecture config of a model without its weights: from ``source`` if cached or local, else ``fallback``.

    `bench plan` sizes a full preset on the meta device; that needs only the config, which the package ships
    (``backbones/configs/*.json``) so that planning never downloads.
    """
    try:
        kwargs = {"subfolder": subfolder} if subfolder else {}
        with warnings.catch_warnings():  # huggingface_hub's deprecation notices about its own arguments
            warnings.simplefilter("ignore")
            return dict(cls.load_config(source, local_files_only=True, **kwargs))
    except _hub_errors():
        pass
    if fallback is None or not fallback.exists():
        hint = _fetch_hint(source, None, False)
        raise UserError(f"no architecture config for {source} here and none shipped; {hint}")
    return json.loads(fallback.read_text())
