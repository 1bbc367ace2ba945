"""README quotes the committed report instead of typing its numbers."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- quoted from results/benchmark/report/report.md -->", "<!-- end of quote -->"


def test_readme_numbers_are_quoted_verbatim_from_the_committed_report() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    report = (ROOT / "results" / "benchmark" / "report" / "report.md").read_text(encoding="utf-8")
    assert readme.count(START) >= 1 and readme.count(START) == readme.count(END)
    for block in re.findall(re.escape(START) + r"(.*?)" + re.escape(END), readme, flags=re.S):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        assert lines, "an empty quote"
        for line in lines:
            assert line.lstrip("> ") in report, f"README quotes a line the report does not hold: {line[:80]}"
    commits = re.findall(r"git commit = ([0-9a-f]{7,40})", report)
    assert commits, "the report names the commit it was made at"
    assert any(commit[:7] in readme for commit in commits), "README names the report's commit"
