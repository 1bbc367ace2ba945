"""`bench benchmark eval` prints its time and the ratio to the scikit-image reference."""

from __future__ import annotations

from typer.testing import CliRunner

from bench.cli import app


def test_benchmark_eval_prints_time_and_ratio() -> None:
    result = CliRunner().invoke(app, ["benchmark", "eval", "--images", "3", "--resolution", "32", "--pool", "2"])
    assert result.exit_code == 0, result.output
    assert "ms/image" in result.output and "speed-up" in result.output and "scikit-image" in result.output


def test_benchmark_eval_rejects_bad_sizes() -> None:
    result = CliRunner().invoke(app, ["benchmark", "eval", "--images", "0"])
    assert result.exit_code == 2 and "--images" in result.output
