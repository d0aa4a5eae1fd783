"""The imports point one way: core (rag, embeddings) <- ui <- app, with eval and bench beside app;
inside rag, the stages in the order a report flows: ingest <- index <- answer, generate on its own."""

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


# Inside rag: what each stage folder may not import ("shared" is rag's top-level modules: types,
# text, language, settings, schema, serialize, jsonl, feedback, which every stage may use).
STAGES_FORBIDDEN = {
    "shared": {"ingest", "index", "generate", "answer"},
    "ingest": {"index", "generate", "answer"},
    "index": {"generate", "answer"},
    "generate": {"ingest", "index", "answer"},
    "answer": set(),
}


def stage_of(module: str) -> str:
    """'rag.index.store' -> 'index'; 'rag.types' -> 'shared'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 else "shared"


@pytest.mark.parametrize("stage", sorted(STAGES_FORBIDDEN))
def test_a_stage_of_rag_never_imports_a_later_stage(stage):
    paths = (ROOT / "rag").glob("*.py") if stage == "shared" else (ROOT / "rag" / stage).glob("*.py")
    wrong = {
        str(path.relative_to(ROOT)): sorted(
            m for m in imported_modules(path) if m.startswith("rag.") and stage_of(m) in STAGES_FORBIDDEN[stage]
        )
        for path in paths
    }
    assert not {k: v for k, v in wrong.items() if v}


def test_no_module_of_app_imports_one_that_imports_it_back():
    graph = {
        f"app.{path.stem}": {m for m in imported_modules(path) if m.startswith("app.")}
        for path in (ROOT / "app").glob("*.py")
    }

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(nxt == goal or reaches(nxt, goal, seen | {nxt}) for nxt in graph.get(start, set()) - seen)

    assert [m for m in sorted(graph) if reaches(m, m, set())] == []


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


def imported_modules(path: Path) -> set[str]:
    """Every module an import statement of `path` names, in full ("from rag import text" names rag.text too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


# The answer path's words and checks: what the evaluation's lexical check measures, so never what it reads
# with. Of rag.text it may share only the plain tokenizers.
ANSWER_PATH = ("rag.language", "rag.answer")
SHARED_TOKENIZERS = {f"rag.text.{name}" for name in ("content_words", "fold_initialisms", "names", "numbers")}


def test_the_lexical_check_finds_negation_with_its_own_words():
    seen, todo, wrong = set(), ["eval.lexical_check"], {}
    while todo:
        module = todo.pop()
        seen.add(module)
        imported = imported_modules(ROOT / (module.replace(".", "/") + ".py"))
        wrong[module] = sorted(
            m
            for m in imported
            if any(m == p or m.startswith(p + ".") for p in ANSWER_PATH)
            or (m.startswith("rag.text.") and m not in SHARED_TOKENIZERS)
        )
        own = [m for m in imported if m.startswith("eval.") and (ROOT / (m.replace(".", "/") + ".py")).exists()]
        todo += [m for m in own if m not in seen]
    assert not {k: v for k, v in wrong.items() if v}


def test_the_word_lists_the_rules_read_are_in_rag_language():
    """No module of rag but rag/language.py writes a set of words at module level."""
    written = []
    for path in sorted((ROOT / "rag").rglob("*.py")):
        if path == ROOT / "rag" / "language.py":
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
            if (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name)
                and value.func.id == "frozenset"
                and any(isinstance(n, ast.Constant) and isinstance(n.value, str) for n in ast.walk(value))
            ):
                written.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not written
