"""Items that cannot be used: why they were skipped, how they are replaced, and when a source is hopeless.

Real data is dirty (dead links, HTML error pages served as images, truncated files), and a benchmark run must
neither crash on one bad item nor train quietly on nothing. So a source raises `SkippedItem` with a short
reason for an item it cannot deliver; the loader replaces it by a substitute chosen by a deterministic rule
(a pure function of the run seed, epoch, index and attempt, so a resumed run and every backbone see the same
items), and counts every skip by reason. A `SkipTally` stops the run with one clear sentence once more than
a set share of the items tried has failed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from bench.core.errors import UserError
from bench.data.seeds import derive_seed

#: how many substitutes the loader tries for one address before giving up on the source
MAX_PROBES = 16
#: items tried before the failure share is judged (fewer items say little about a source)
MIN_TRIED = 64
#: the count of items delivered with an empty caption (kept: the hint still carries the colors)
EMPTY_CAPTION = "empty_caption"


class SkippedItem(Exception):
    """An item the source cannot deliver; ``reason`` is a short snake_case tag (``http_404``, ``not_image``)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def substitute_index(run_seed: int, epoch: int, index: int, attempt: int, size: int) -> int:
    """The item that stands in for ``index`` of ``epoch`` on ``attempt`` (1, 2, ...): uniform over the source."""
    return derive_seed("substitute", run_seed, epoch, index, attempt) % size


def describe(counts: Mapping[str, int]) -> str:
    """``{"http_404": 3, "not_image": 1}`` -> ``"http_404: 3, not_image: 1"`` (largest first)."""
    return ", ".join(f"{reason}: {n}" for reason, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


class SkipTally:
    """Counts delivered and skipped items of one source and judges its failure share."""

    def __init__(self, source_name: str, max_failure_share: float) -> None:
        self.source_name = source_name
        self.max_failure_share = max_failure_share
        self.delivered = 0
        self.empty_captions = 0
        self.skips: Counter[str] = Counter()

    def add(self, delivered: int, skip_reasons: Iterable[str], empty_captions: int = 0) -> None:
        """Record a batch: ``delivered`` good items, one reason per skipped item."""
        self.delivered += delivered
        self.empty_captions += empty_captions
        self.skips.update(skip_reasons)

    @property
    def tried(self) -> int:
        return self.delivered + sum(self.skips.values())

    def failure_share(self) -> float:
        """Skipped items / items tried (0 before anything was tried)."""
        return sum(self.skips.values()) / self.tried if self.tried else 0.0

    def check(self, unresolved: bool = False) -> None:
        """Raise a one-line `UserError` when the source fails too often to train (or evaluate) on."""
        failed = f"{sum(self.skips.values())} of {self.tried} items failed ({describe(self.skips)})"
        if unresolved:
            raise UserError(
                f"data source {self.source_name}: no usable item in {MAX_PROBES + 1} tries for one sample; "
                f"{failed}; check the source"
            )
        if self.tried >= MIN_TRIED and self.failure_share() > self.max_failure_share:
            raise UserError(
                f"data source {self.source_name}: {failed}, more than data.max_failure_share="
                f"{self.max_failure_share:g} allows; check the source (or raise the share)"
            )

    def counts(self) -> dict[str, int]:
        """Skipped items by reason plus the empty-caption count, for logs and summaries."""
        counts = dict(sorted(self.skips.items()))
        if self.empty_captions:
            counts[EMPTY_CAPTION] = self.empty_captions
        return counts

    def state_dict(self) -> dict[str, object]:
        return {"delivered": self.delivered, "empty_captions": self.empty_captions, "skips": dict(self.skips)}

    def load_state_dict(self, state: Mapping[str, object]) -> None:
        self.delivered = int(state.get("delivered", 0))  # type: ignore[arg-type]
        self.empty_captions = int(state.get("empty_captions", 0))  # type: ignore[arg-type]
        self.skips = Counter({str(k): int(v) for k, v in dict(state.get("skips", {})).items()})  # type: ignore[arg-type]
