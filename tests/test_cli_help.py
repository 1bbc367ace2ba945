"""Every command, nested ones included, explains itself with --help: its description and every option's default."""

from __future__ import annotations

import inspect

import pytest
import typer
import typer.rich_utils
from typer.testing import CliRunner

from bench.cli import app

runner = CliRunner()


def _commands() -> dict[str, object]:
    """Command path ("benchmark urls") -> its click command (typer vendors its own click classes)."""
    found: dict[str, object] = {}

    def walk(cmd: object, prefix: list[str]) -> None:
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                walk(sub, [*prefix, name])
        else:
            found[" ".join(prefix)] = cmd

    walk(typer.main.get_command(app), [])
    return found


COMMANDS = _commands()


def _help(path: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The --help text of ``path``, wide enough that no option row wraps, box drawing dropped."""
    monkeypatch.setattr(typer.rich_utils, "MAX_WIDTH", 400)
    result = runner.invoke(app, [*path.split(), "--help"])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_commands_the_issues_name_exist() -> None:
    assert {"hints", "train", "eval", "report", "sample", "plan", "run", "benchmark hints"} <= set(COMMANDS)


@pytest.mark.parametrize("path", list(COMMANDS))
def test_help_shows_the_commands_docstring(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    text = " ".join(_help(path, monkeypatch).split())
    doc = inspect.getdoc(COMMANDS[path].callback)
    assert doc, f"bench {path} has no docstring"
    for paragraph in doc.split("\n\n"):
        assert " ".join(paragraph.split()) in text


@pytest.mark.parametrize("path", list(COMMANDS))
def test_help_shows_every_options_default(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [line for line in _help(path, monkeypatch).splitlines() if line.startswith("│")]  # panel rows
    for param in COMMANDS[path].params:
        name = param.opts[0] if param.param_type_name == "option" else param.name
        if name == "--help":
            continue
        row = next((line for line in rows if f" {name} " in line or f" {name}... " in line), None)
        assert row is not None, f"bench {path} --help does not list {name}"
        assert "[default:" in row or "[required]" in row, f"bench {path} --help shows no default for {name}: {row}"


def test_data_names_every_source_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.data.sources import SOURCE_KINDS

    row = next(line for line in _help("train", monkeypatch).splitlines() if line.startswith("│ --data "))
    assert all(f"{kind}:" in row for kind in SOURCE_KINDS)


def test_bare_bench_lists_commands_and_sets_the_benchmarks_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(typer.rich_utils, "MAX_WIDTH", 400)
    output = runner.invoke(app, []).output
    assert "train" in output and "hints" in output
    assert "Timing benchmarks" in output
    assert output.index("benchmark ") > output.index("Timing benchmarks") > output.index(" train ")
