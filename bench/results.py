"""``eval.csv``: one row per (checkpoint, eval set, strokes, metric), read and merged, written atomically.

Columns: checkpoint name, training step, dollars spent at the checkpoint, eval set, strokes per image (empty
for the run's own hint settings; a number for stroke adherence rows), metric, n, mean, 95 % bootstrap interval,
status (``ok`` or ``unavailable``), a note (why a metric is unavailable) and the variant of the eval items
(empty for the items as they are; ``colour-free`` captions or ``counterfactual`` strokes). Unavailable rows
carry no number. Per-item scores, which paired comparisons need, are kept by `bench.sample_store`.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from bench.core.atomic import write_text

OK = "ok"
UNAVAILABLE = "unavailable"


@dataclass
class EvalRow:
    """One metric of one checkpoint on one eval set."""

    checkpoint: str
    step: int
    usd: float
    eval_set: str
    strokes: int | None
    metric: str
    n: int
    mean: float
    ci_low: float
    ci_high: float
    status: str = OK
    note: str = ""
    variant: str = ""

    @property
    def key(self) -> tuple[str, str, int | None, str, str]:
        return (self.checkpoint, self.eval_set, self.strokes, self.metric, self.variant)


COLUMNS = [f.name for f in fields(EvalRow)]


def _number(text: str) -> float:
    return float(text) if text not in ("", "nan") else math.nan


def read_rows(path: Path) -> list[EvalRow]:
    """The rows of an ``eval.csv`` (none if the file does not exist)."""
    if not path.is_file():
        return []
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        for record in csv.DictReader(fh):
            rows.append(
                EvalRow(
                    checkpoint=record["checkpoint"],
                    step=int(record["step"]),
                    usd=float(record["usd"]),
                    eval_set=record["eval_set"],
                    strokes=int(record["strokes"]) if record["strokes"] else None,
                    metric=record["metric"],
                    n=int(record["n"]),
                    mean=_number(record["mean"]),
                    ci_low=_number(record["ci_low"]),
                    ci_high=_number(record["ci_high"]),
                    status=record["status"],
                    note=record["note"],
                    variant=record.get("variant") or "",
                )
            )
    return rows


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return value


def write_rows(path: Path, rows: list[EvalRow]) -> None:
    """Write ``rows`` (sorted) as the whole ``eval.csv``, atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    ordered = sorted(rows, key=lambda r: (r.usd, r.checkpoint, r.eval_set, r.strokes or 0, r.variant, r.metric))
    for row in ordered:
        writer.writerow({k: _cell(v) for k, v in asdict(row).items()})
    write_text(path, buffer.getvalue())


def merge_rows(existing: list[EvalRow], new: list[EvalRow]) -> list[EvalRow]:
    """``existing`` with every row of the same key replaced by the one in ``new``."""
    table = {row.key: row for row in existing}
    table.update({row.key: row for row in new})
    return list(table.values())
