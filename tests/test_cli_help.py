"""Every command, nested ones included, explains itself with --help; `bench` alone shows the command list."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from bench.cli import app

runner = CliRunner()


def _command_paths() -> list[list[str]]:
    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(cmd: object, prefix: list[str]) -> None:
        if hasattr(cmd, "commands"):  # a group (typer vendors its own click classes)
            for name, sub in cmd.commands.items():
                walk(sub, [*prefix, name])
        else:
            paths.append(prefix)

    walk(root, [])
    return paths


def test_the_commands_the_issues_name_exist() -> None:
    names = {" ".join(p) for p in _command_paths()}
    assert {"hints", "train", "eval", "report", "sample", "plan", "benchmark hints"} <= names


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p))
def test_help_of_every_command(path: list[str]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    assert len(result.output.strip().splitlines()) > 3


def test_bare_bench_lists_commands() -> None:
    result = runner.invoke(app, [])
    assert "train" in result.output and "hints" in result.output
