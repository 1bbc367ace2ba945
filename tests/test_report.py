"""`bench report` on evaluated fake runs: files, tables with best marked, plots, escaping, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import fast_overrides
from PIL import Image
from typer.testing import CliRunner

import backbones
from bench.cli import app
from bench.commands.eval import EvalOptions, evaluate_runs
from bench.config import resolve_config
from bench.references import evaluate_references
from bench.train import start_run, train_run
from eval.weights import WEIGHTS_ENV

runner = CliRunner()
FAST = fast_overrides("data.eval_size=3", "budget.mark_every=0.5")
EVIL = "<script>alert('x')</script>"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two evaluated fake runs; one eval caption is a script tag."""
    root = tmp_path_factory.mktemp("runs")
    backbones._REGISTRY["fake"] = "fakes:FakeBackbone"
    mp = pytest.MonkeyPatch()
    mp.setenv("TORCH_HOME", str(root / "torch-home"))
    mp.delenv(WEIGHTS_ENV, raising=False)
    try:
        paths = []
        for name, width in (("a", 8), ("b", 4)):
            cfg = resolve_config("fake", "tiny", overrides=[*FAST, f"model.width={width}"])
            run = start_run(cfg, root / name)
            train_run(cfg, run, resume=False, quiet=True)
            paths.append(run.path)
        options = EvalOptions(photos=False, adherence=(1, 2), quiet=True)
        evaluate_runs(paths, options)
        evaluate_references(paths, root / "references", options)
    finally:
        backbones._REGISTRY.pop("fake", None)
        mp.undo()
    listing = paths[0] / "samples" / "eval" / "builtin-shapes" / "inputs" / "items.json"
    items = json.loads(listing.read_text())
    items["captions"][0] = EVIL
    listing.write_text(json.dumps(items))
    return paths


@pytest.fixture(scope="module")
def report(runs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    references = str(runs[0].parent / "references")
    args = ["report", *map(str, runs), "--out", str(out), "--title", f"title {EVIL}", "--references", references]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


def test_report_files_and_sections(report: Path) -> None:
    markdown = (report / "report.md").read_text()
    for section in ("Results at equal budget", "Metric per dollar", "Throughput and cost", "Stroke adherence",
                    "Samples", "Configs and versions", "### builtin:shapes", "Read this first"):  # fmt: skip
        assert section in markdown, section
    assert "fake (a)" in markdown and "fake (b)" in markdown  # same backbone twice: runs are told apart
    assert "clear winner (95 %)" in markdown and markdown.startswith("# title")
    assert next(line for line in markdown.splitlines() if line.startswith("Verdict at"))
    for reference in ("oracle", "mean-fill", "strokes-on-gray", "propagate"):
        assert f"| reference: {reference} | $0 |" in markdown, reference
    assert "## Pairwise differences" in markdown and "stroke ΔE00 ↓ − propagate" in markdown
    following = markdown.split("## Stroke-following a caption cannot fake")[1].split("\n## ")[0]
    assert "counterfactual strokes" in following and "fake (a)" in following and "reference: propagate" in following
    assert "LPIPS is unavailable" in markdown and "FID per dollar: not available" in markdown
    plots = sorted(p.name for p in (report / "plots").glob("*.png"))
    assert {"stroke_de-per-dollar.png", "adherence.png", "samples-builtin-shapes.png"} <= set(plots)
    for name in plots:
        with Image.open(report / "plots" / name) as image:
            assert image.format == "PNG" and image.size[0] > 300
        assert f"plots/{name}" in markdown


def test_html_is_self_contained_and_escapes_every_string(report: Path) -> None:
    page = (report / "report.html").read_text()
    assert "<script" not in page.lower()  # neither the caption's nor any of our own
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page  # the caption and title, shown as text
    images = re.findall(r'<img src="([^"]+)"', page)
    assert images and all(src.startswith("data:image/png;base64,") for src in images)
    assert "plots/" not in "".join(images)
    markdown = (report / "report.md").read_text()
    assert EVIL not in markdown and "&lt;script&gt;" in markdown


def test_a_run_without_eval_rows_is_one_line(tmp_path: Path) -> None:
    backbones._REGISTRY["fake"] = "fakes:FakeBackbone"
    try:
        run = start_run(resolve_config("fake", "tiny", overrides=FAST), tmp_path / "fresh")
    finally:
        backbones._REGISTRY.pop("fake", None)
    result = runner.invoke(app, ["report", str(run.path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "bench eval" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["report", str(tmp_path / "nope"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "not found" in result.output
