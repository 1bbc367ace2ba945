"""`bench benchmark loop` prints both loops' throughput, their ratio, the data wait and what making data costs."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from bench.cli import app


def test_benchmark_loop_prints_ratio_data_wait_and_making_cost() -> None:
    result = CliRunner().invoke(app, ["benchmark", "loop", "--backbone", "sd", "--steps", "5"])
    assert result.exit_code == 0, result.output
    ratio = re.search(r"ratio:\s+([0-9.]+)", result.output)
    assert ratio and float(ratio.group(1)) > 0
    assert re.search(r"data wait:\s+[0-9.]+%", result.output)
    making = re.search(r"making data:\s+([0-9.]+) ms per batch .* keeps ([0-9.]+) of (\d+) cores busy", result.output)
    assert making and float(making.group(1)) > 0 and float(making.group(2)) > 0


def test_benchmark_loop_rejects_too_few_steps() -> None:
    result = CliRunner().invoke(app, ["benchmark", "loop", "--steps", "2"])
    assert result.exit_code == 2 and "--steps must be at least 5" in result.output
