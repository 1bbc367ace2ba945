"""Render report blocks as Markdown; figures are written next to it under ``plots/`` and linked.

Text is escaped for Markdown tables (pipes) and for the raw HTML Markdown allows (``<``, ``>``, ``&``), so a
caption such as ``<script>`` shows as text wherever the file is rendered.
"""

from __future__ import annotations

import html
from pathlib import Path

from bench.core.atomic import write_bytes, write_text
from bench.report.blocks import Block, Bullets, Code, Figure, Heading, Paragraph, Table

PLOTS = "plots"


def _text(text: str) -> str:
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ")


def render(blocks: list[Block], out: Path) -> str:
    """Markdown of ``blocks``; writes each figure's PNG to ``out/plots/``."""
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            lines += [f"{'#' * block.level} {_text(block.text)}", ""]
        elif isinstance(block, Paragraph):
            lines += [_text(block.text), ""]
        elif isinstance(block, Bullets):
            lines += [f"- {_text(item)}" for item in block.items] + [""]
        elif isinstance(block, Table):
            lines.append("| " + " | ".join(_text(h) for h in block.headers) + " |")
            lines.append("|" + "---|" * len(block.headers))
            for row in block.rows:
                cells = [f"**{_text(c.text)}** ★" if c.best else _text(c.text) for c in row]
                lines.append("| " + " | ".join(cells) + " |")
            lines += ["", f"*{_text(block.caption)}*", ""] if block.caption else [""]
        elif isinstance(block, Figure):
            write_bytes(out / PLOTS / block.name, block.png)
            lines += [f"![{_text(block.caption)}]({PLOTS}/{block.name})", "", f"*{_text(block.caption)}*", ""]
            lines += [f"- {_text(note)}" for note in block.notes] + ([""] if block.notes else [])
        elif isinstance(block, Code):
            fence = "````" if "```" in block.text else "```"
            lines += [f"**{_text(block.title)}**", "", fence, block.text.rstrip(), fence, ""]
    return "\n".join(lines)


def write(blocks: list[Block], out: Path) -> Path:
    """Write ``out/report.md`` (and its figures); returns its path."""
    path = out / "report.md"
    write_text(path, render(blocks, out))
    return path
