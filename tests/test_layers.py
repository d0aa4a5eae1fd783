"""The imports point one way: core (rag, embeddings) <- ui <- app, with eval and bench beside app."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What each package may not import, by any import statement (at module level or inside a function).
FORBIDDEN = {
    "rag": {"app", "ui", "eval", "bench"},
    "embeddings": {"app", "ui", "eval", "bench", "rag"},
    "ui": {"app", "eval", "bench"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_layer_never_imports_the_layers_above_it(package):
    wrong = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert not {k: v for k, v in wrong.items() if v}


def test_the_pipeline_is_constructed_in_one_place():
    places = [
        str(path.relative_to(ROOT))
        for package in ("rag", "embeddings", "ui", "eval", "bench", "app")
        for path in (ROOT / package).rglob("*.py")
        if any(
            isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Pipeline"
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        )
    ]
    assert places == ["app/build.py"]
