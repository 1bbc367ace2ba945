"""The plain blocks a report is made of (headings, text, tables, figures, code); renderers escape their text."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Paragraph:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Cell:
    text: str
    best: bool = False


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Cell]]
    caption: str = ""


@dataclass
class Figure:
    #: file name under the report's ``plots/`` folder
    name: str
    png: bytes
    caption: str
    notes: list[str] = field(default_factory=list)


@dataclass
class Code:
    title: str
    text: str


Block = Heading | Paragraph | Bullets | Table | Figure | Code
