"""The layers the design promises, read from the import statements (ast, so nothing is imported).

Data flows one way: reader -> Example -> (train) -> export -> bundle -> runtime -> CLI / API /
insights. Nothing on the inference path may reach ``training/`` (which imports torch), and no
module or subpackage may import one that imports it back. Imports inside functions count too:
a lazy import still ties the layers together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from helpers.paths import REPO

PACKAGE = REPO / "src" / "sentiment_fusion"

# Everything a prediction, the HTTP service, the bulk insights job and `evaluate` run.
INFERENCE_PATH = (
    "sentiment_fusion.bundle",
    "sentiment_fusion.runtime",
    "sentiment_fusion.evaluation",
    "sentiment_fusion.api",
    "sentiment_fusion.insights",
    "sentiment_fusion.data",
    "sentiment_fusion.image",
    "sentiment_fusion.text.normalize",
    "sentiment_fusion.text.encoding",
    "sentiment_fusion.text.vocab",
    "sentiment_fusion.labels",
    "sentiment_fusion.errors",
    "sentiment_fusion.hashing",
    "sentiment_fusion.metrics",
    "sentiment_fusion.calibration",
    "sentiment_fusion.model_card",
    "sentiment_fusion.commands",
)
TRAINING_SIDE = ("sentiment_fusion.training", "sentiment_fusion.testing")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The package's modules that ``path`` imports (the longest known prefix of each target)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for imported in targets:
            target = imported
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):  # a package's own __init__
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _imports(path, name, set(files)) for name, path in files.items()}


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def subpackage_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Modules collapsed to their first level below the package (``training``, ``api``, ``bundle``, ...)."""

    def top(name: str) -> str:
        return ".".join(name.split(".")[:2])

    collapsed: dict[str, set[str]] = {}
    for name, targets in graph.items():
        collapsed.setdefault(top(name), set()).update(top(t) for t in targets if top(t) != top(name))
    return collapsed


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_the_graph_is_read(graph):
    # The checks below are only as good as the graph: it must see lazy (function-level) and relative imports.
    assert "sentiment_fusion.runtime" in graph["sentiment_fusion"]  # load() imports it inside the function
    assert "sentiment_fusion.bundle" in graph["sentiment_fusion.runtime"]
    assert any(_within(t, TRAINING_SIDE) for t in graph["sentiment_fusion.cli"])  # `train` dispatches to recipes


def test_nothing_on_the_inference_path_reaches_training(graph):
    inference = ["sentiment_fusion"] + [
        m for m in graph if _within(m, INFERENCE_PATH)
    ]  # the package's own __init__ too
    assert "sentiment_fusion.api.main" in inference and "sentiment_fusion.insights.scoring" in inference
    offenders = {}
    for module in inference:
        bad = sorted(t for t in reachable(graph, module) if _within(t, TRAINING_SIDE))
        if bad:
            offenders[module] = bad
    assert not offenders, f"inference-path modules that import training code (directly or through others): {offenders}"


def _top_level_imports(path: Path) -> set[str]:
    """The distributions a module imports (absolute imports only: ``torch``, ``numpy``, ...)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_nothing_on_the_inference_path_imports_torch(graph):
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    inference = ["sentiment_fusion"] + [m for m in graph if _within(m, INFERENCE_PATH)]
    reached = set(inference).union(*(reachable(graph, m) for m in inference))
    heavy = {m: sorted(_top_level_imports(files[m]) & {"torch", "transformers"}) for m in sorted(reached)}
    assert {m: h for m, h in heavy.items() if h} == {}
    assert {"torch"} <= _top_level_imports(files["sentiment_fusion.training.trainer"])  # the check sees torch imports


def test_no_module_imports_one_that_imports_it_back(graph):
    assert cycles(graph) == []


def test_subpackages_depend_one_way(graph):
    assert cycles(subpackage_graph(graph)) == []


def test_the_checks_catch_what_they_are_for():
    # A tiny graph with the two faults: the checks must see them.
    faulty = {
        "sentiment_fusion.runtime": {"sentiment_fusion.training.calibration"},
        "sentiment_fusion.training.calibration": {"sentiment_fusion.metrics"},
        "sentiment_fusion.cli": {"sentiment_fusion.insights.cli"},
        "sentiment_fusion.insights.cli": {"sentiment_fusion.cli"},
    }
    assert cycles(faulty) == [["sentiment_fusion.cli", "sentiment_fusion.insights.cli"]]
    assert "sentiment_fusion.training.calibration" in reachable(faulty, "sentiment_fusion.runtime")
    assert cycles(
        subpackage_graph(
            {
                "sentiment_fusion.text.a": {"sentiment_fusion.training.b"},
                "sentiment_fusion.training.b": {"sentiment_fusion.text.c"},
            }
        )
    ) == [["sentiment_fusion.text", "sentiment_fusion.training"]]
