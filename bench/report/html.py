"""Render report blocks as one self-contained HTML file: figures embedded as base64 PNG, no scripts.

Every string that reaches the page goes through `esc` (``html.escape`` with quotes), run names, captions and
config text included, so a caption such as ``<script>`` is shown, never run.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from bench.core.atomic import write_text
from bench.report.blocks import Block, Bullets, Code, Figure, Heading, Paragraph, Table

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.best { font-weight: bold; background: #e8f5e9; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption, .caption { color: #555; font-size: 0.9em; }
pre { background: #f7f7f7; padding: 0.75em; overflow-x: auto; font-size: 0.8em; }
"""


def esc(text: object) -> str:
    """HTML-escape any value's text (quotes too)."""
    return html.escape(str(text), quote=True)


def _table(block: Table) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in block.headers)
    body = []
    for row in block.rows:
        cells = "".join(f'<td class="best">{esc(c.text)} ★</td>' if c.best else f"<td>{esc(c.text)}</td>" for c in row)
        body.append(f"<tr>{cells}</tr>")
    caption = f'<p class="caption">{esc(block.caption)}</p>' if block.caption else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{caption}"


def _figure(block: Figure) -> str:
    data = base64.b64encode(block.png).decode("ascii")
    notes = "".join(f"<li>{esc(n)}</li>" for n in block.notes)
    notes_html = f"<ul class='caption'>{notes}</ul>" if notes else ""
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{esc(block.caption)}">'
        f"<figcaption>{esc(block.caption)}</figcaption>{notes_html}</figure>"
    )


def render(blocks: list[Block], title: str) -> str:
    """The whole HTML page of ``blocks``."""
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"<h{block.level}>{esc(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            parts.append(f"<p>{esc(block.text)}</p>")
        elif isinstance(block, Bullets):
            parts.append("<ul>" + "".join(f"<li>{esc(item)}</li>" for item in block.items) + "</ul>")
        elif isinstance(block, Table):
            parts.append(_table(block))
        elif isinstance(block, Figure):
            parts.append(_figure(block))
        elif isinstance(block, Code):
            parts.append(f"<p><strong>{esc(block.title)}</strong></p><pre>{esc(block.text)}</pre>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>\n<body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )


def write(blocks: list[Block], out: Path, title: str) -> Path:
    """Write ``out/report.html``; returns its path."""
    path = out / "report.html"
    write_text(path, render(blocks, title))
    return path
