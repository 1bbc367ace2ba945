"""`bench benchmark urls` runs end to end at a tiny scale and prints its figures and ratio."""

from __future__ import annotations

from typer.testing import CliRunner

from bench.cli import app


def test_benchmark_urls_prints_rates_and_a_ratio() -> None:
    args = ["benchmark", "urls", "--images", "56", "--latency-ms", "20", "--threads", "8", "--train-seconds", "0"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "local folder:" in result.output and "URLs:" in result.output and "ratio:" in result.output
    assert "40 requests" in result.output  # one request per training image of the pass, none repeated


def test_benchmark_urls_refuses_too_few_images() -> None:
    result = CliRunner().invoke(app, ["benchmark", "urls", "--images", "3"])
    assert result.exit_code == 2 and "--images" in result.output
