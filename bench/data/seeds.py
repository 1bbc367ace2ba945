"""Stable seeds from named parts, identical on every machine and Python version.

Python's ``hash()`` is salted per process, so seeds come from SHA-256 over the parts' text instead. Hints are
a pure function of (run seed, sample key, epoch): every backbone sees identical hints for identical samples.
"""

from __future__ import annotations

import hashlib


def derive_seed(*parts: object) -> int:
    """A 63-bit non-negative seed from ``parts`` (their ``str()`` joined; order matters)."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") >> 1


def hint_seed(run_seed: int, key: str, epoch: int) -> int:
    """The hint seed of training sample ``key`` in ``epoch`` of a run seeded with ``run_seed``."""
    return derive_seed("hint", run_seed, key, epoch)


def eval_hint_seed(eval_seed: int, key: str) -> int:
    """The fixed hint seed of eval item ``key``: independent of the run seed, so every run scores the same."""
    return derive_seed("eval-hint", eval_seed, key)
