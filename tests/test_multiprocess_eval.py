"""`bench eval` under accelerate launch says, in one sentence, that it runs on one process."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.processes import Processes


def test_eval_on_several_processes_is_refused_in_one_sentence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(Processes, "count", property(lambda self: 2))
    result = CliRunner().invoke(app, ["eval", str(tmp_path)])
    assert result.exit_code != 0
    assert "bench eval runs on one process; start it without accelerate launch" in result.output
    assert "Traceback" not in result.output
