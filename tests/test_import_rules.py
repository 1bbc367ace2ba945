"""The layering of DESIGN.md, checked on every import statement (function-level imports included).

bench.core is the leaf; hints sits on it; backbones and eval sit on hints and the leaf; the rest of bench
(orchestration: CLI, training loop, reports) sits on everything. A wrong-way import or a new cycle fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bench", "backbones", "hints", "eval")
#: layer -> the layers it may import (besides itself)
ALLOWED = {
    "core": set(),
    "hints": {"core"},
    "backbones": {"core", "hints"},
    "eval": {"core", "hints"},
    "bench": {"core", "hints", "backbones", "eval"},
}


def layer_of(module: str) -> str | None:
    top = module.split(".")[0]
    if top not in PACKAGES:
        return None
    if module == "bench.core" or module.startswith("bench.core."):
        return "core"
    return top


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def project_imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) of every import of a project package in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            # "from bench import core" names a submodule
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if layer_of(name)]


def edges() -> list[tuple[str, str, str]]:
    """(from layer, to layer, where) over the project's source files."""
    result = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            source = layer_of(module_name(path))
            for line, name in project_imports(path):
                target = layer_of(name)
                # "from bench import errors" style names resolve to bench itself: ignore bare package names
                if target != source and name not in PACKAGES:
                    result.append((source, target, f"{path.relative_to(ROOT)}:{line} imports {name}"))
    return result


def test_every_import_goes_down_the_layers() -> None:
    wrong = [where for source, target, where in edges() if target not in ALLOWED[source]]
    assert not wrong, "wrong-way imports:\n" + "\n".join(wrong)


def test_layers_form_no_cycle() -> None:
    graph: dict[str, set[str]] = {layer: set() for layer in ALLOWED}
    for source, target, _ in edges():
        graph[source].add(target)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in graph[start])

    cycles = [layer for layer in graph if reaches(layer, layer, set())]
    assert not cycles, f"import cycle through {cycles}"


def test_the_rule_sees_a_wrong_way_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from bench.train import Trainer\n")
    assert project_imports(bad) == [(2, "bench.train"), (2, "bench.train.Trainer")]
    assert layer_of("bench.train") == "bench" and "bench" not in ALLOWED["backbones"]
