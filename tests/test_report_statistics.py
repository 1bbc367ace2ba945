"""The report's claims on fabricated run directories with known per-item scores: ★ only for a clear winner,
"no clear winner" otherwise, per-seed values, a failed seed named, and runs on different items refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.results import EvalRow, write_rows
from bench.sample_store import EVAL_SAMPLES, INPUTS, ITEMS_FILE, SCORES_FILE, set_slug

runner = CliRunner()
SET = "builtin:shapes"
CHECKPOINT = "usd-0000000.000001000"
ITEMS = 40


def fabricate(root: Path, backbone: str, seed: int, scores: np.ndarray | None, keys: list[str] | None = None) -> Path:
    """A run directory as `bench eval` leaves it: config, one checkpoint's row and per-item stroke ΔE00."""
    path = root / backbone / f"seed{seed}"
    path.mkdir(parents=True)
    (path / "config.toml").write_text(
        f'backbone = "{backbone}"\npreset = "tiny"\nseed = {seed}\n[data]\nsource = "{SET}"\n'
    )
    if scores is None:
        return path  # a failed seed: no eval rows
    keys = keys or [f"k{i}" for i in range(ITEMS)]
    folder = path / EVAL_SAMPLES / set_slug(SET)
    (folder / INPUTS).mkdir(parents=True)
    (folder / INPUTS / ITEMS_FILE).write_text(json.dumps({"keys": keys, "captions": [""] * len(keys)}))
    (folder / CHECKPOINT).mkdir()
    (folder / CHECKPOINT / SCORES_FILE).write_text(json.dumps({"keys": keys, "scores": {"stroke_de": scores.tolist()}}))
    row = EvalRow(CHECKPOINT, 10, 1e-6, SET, None, "stroke_de", len(scores), float(scores.mean()), 0.0, 99.0)
    write_rows(path / "eval.csv", [row])
    return path


def _report(paths: list[Path], out: Path) -> str:
    result = runner.invoke(app, ["report", *map(str, paths), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return (out / "report.md").read_text()


def _results_rows(markdown: str) -> dict[str, str]:
    table = markdown.split("## Results at equal budget")[1].split("\n## ")[0]
    return {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| ")}


@pytest.fixture
def difficulty() -> np.ndarray:
    return np.random.default_rng(0).uniform(5, 25, ITEMS)


def test_separated_intervals_star_the_winner(tmp_path: Path, difficulty: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    paths = [fabricate(tmp_path, "sd", s, difficulty + 6 + rng.normal(0, 1, ITEMS)) for s in (0, 1, 2)]
    paths += [fabricate(tmp_path, "if", s, difficulty + rng.normal(0, 1, ITEMS)) for s in (0, 1, 2)]
    markdown = _report(paths, tmp_path / "out")
    rows = _results_rows(markdown)
    assert "★" in rows["if"] and "★" not in rows["sd"] and "seeds" in rows["if"]
    assert rows["if"].count(",") >= 3  # the interval and each of the three seeds' values
    assert "if" in rows["clear winner (95 %)"].split("|")[-2]
    verdict = next(line for line in markdown.splitlines() if line.startswith("Verdict at"))
    assert "## Pairwise differences" in markdown and "if beats sd by" in verdict and "Best: if" in verdict


def test_overlapping_intervals_say_no_clear_winner(tmp_path: Path, difficulty: np.ndarray) -> None:
    rng = np.random.default_rng(2)
    paths = [
        fabricate(tmp_path, name, s, difficulty + rng.normal(0, 3, ITEMS)) for name in ("sd", "if") for s in (0, 1)
    ]
    markdown = _report(paths, tmp_path / "out")
    rows = _results_rows(markdown)
    assert not any("★" in row for row in rows.values())
    assert "no clear winner" in rows["clear winner (95 %)"]
    assert "sd vs if: no clear difference" in markdown


def test_a_failed_seed_is_named_and_the_rest_are_used(tmp_path: Path, difficulty: np.ndarray) -> None:
    paths = [fabricate(tmp_path, "sd", 0, difficulty), fabricate(tmp_path, "sd", 1, None)]
    paths += [fabricate(tmp_path, "if", 0, difficulty - 1), fabricate(tmp_path, "if", 1, difficulty - 1.2)]
    markdown = _report(paths, tmp_path / "out")
    assert "sd seed 1" in markdown and "has no eval rows" in markdown
    assert _results_rows(markdown)["sd"].split("|")[3].strip() == "0"  # seeds used


def test_runs_on_different_eval_items_are_refused_in_one_sentence(tmp_path: Path, difficulty: np.ndarray) -> None:
    first = fabricate(tmp_path, "sd", 0, difficulty)
    second = fabricate(tmp_path, "if", 0, difficulty, keys=[f"other{i}" for i in range(ITEMS)])
    result = runner.invoke(app, ["report", str(first), str(second), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "different eval items" in result.output and "Traceback" not in result.output
