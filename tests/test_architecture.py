"""Imports point one way: cli.py → commands → projections → ledger (style.md practice 1)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = {
    "ledger": {"click", "rich", "psycopg", "psycopg_pool", "projections", "commands", "cli"},
    "projections": {"click", "rich", "commands", "cli"},
    "commands": {"cli"},
}
# what ledger/ may import besides the standard library and itself
LEDGER_ALLOWED = {"eventsourcing", "pydantic", "pydantic_core", "orjson", "cryptography"}


def modules(layer: str) -> list[Path]:
    if layer == "cli":
        return [ROOT / "cli.py"] if (ROOT / "cli.py").exists() else []
    return sorted((ROOT / layer).rglob("*.py"))


def imported_packages(path: Path, package: tuple[str, ...] | None = None) -> set[str]:
    """The top-level package of every import in ``path`` (anywhere in it), relative resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    if package is None:
        package = path.relative_to(ROOT).parent.parts
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # from . import x / from ..y import z
                base = package[: len(package) - node.level + 1]
                found.add(base[0] if base else (node.module or "").split(".")[0])
            elif node.module:
                found.add(node.module.split(".")[0])
    return found


def layer_modules() -> list[tuple[str, Path]]:
    return [(layer, path) for layer in FORBIDDEN for path in modules(layer)]


@pytest.mark.parametrize(
    ("layer", "path"), layer_modules(), ids=lambda v: v if isinstance(v, str) else v.name
)
def test_a_module_imports_nothing_from_a_layer_above_or_an_outer_library(layer, path):
    wrong = imported_packages(path) & FORBIDDEN[layer]
    assert not wrong, f"{path.relative_to(ROOT)} imports {sorted(wrong)}"


@pytest.mark.parametrize("path", modules("ledger"), ids=lambda p: p.name)
def test_the_ledger_imports_only_the_standard_library_and_its_chosen_libraries(path):
    outside = {
        name
        for name in imported_packages(path)
        if name not in sys.stdlib_module_names and name not in LEDGER_ALLOWED | {"ledger"}
    }
    assert not outside, f"{path.relative_to(ROOT)} imports {sorted(outside)}"


def test_the_layers_exist_and_are_walked():
    assert len(modules("ledger")) >= 8
    assert modules("projections")
    assert modules("commands")


def test_the_import_walker_sees_nested_and_relative_imports(tmp_path):
    # a guard on the walker itself: imports inside functions and TYPE_CHECKING blocks count
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import rich.console\n"
        "def f():\n    from click import echo\n    from . import events\n"
    )
    found = imported_packages(probe, package=("ledger",))
    assert {"rich", "click", "ledger", "typing"} <= found
