"""The dependency rules of docs/architecture.md, read from the source: flows -> gates -> validators.

- validators import neither prefect nor the gate nor the flows (they are pure and offline);
- the gate never imports a flow;
- no two modules import each other at import time, however indirectly.

Imports inside functions (the CLI's lazy ones) and under `if TYPE_CHECKING:` are not import-time
edges, so they are left out of the cycle check; the layer rules apply to every import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "prefect_review_gate"
LAYERS = {"validators": ROOT / "validators", "gates": ROOT / "gates", "flows": ROOT / "flows"}


def _module_name(layer: str, path: Path) -> str:
    parts = path.relative_to(LAYERS[layer]).with_suffix("").parts
    parts = parts[:-1] if parts[-1] == "__init__" else parts
    return ".".join((PACKAGE, layer, *parts))


def _modules() -> dict[str, Path]:
    return {
        _module_name(layer, path): path
        for layer, folder in LAYERS.items()
        for path in sorted(folder.rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".")
            base = base if is_package else base[:-1]
            base = base[: len(base) - (node.level - 1)]
            prefix = ".".join([*base, node.module] if node.module else base)
        else:
            prefix = node.module or ""
        # `from pkg import name` may import a submodule `pkg.name`: count both, the graph keeps real ones.
        return [prefix, *(f"{prefix}.{alias.name}" for alias in node.names)]
    return []


def _all_imports(module: str, path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    return [name for node in ast.walk(tree) for name in _imported(node, module, is_package)]


def _import_time_imports(module: str, path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for inner in ast.walk(node) if isinstance(node, ast.If | ast.Try) else [node]:
            names += _imported(inner, module, is_package)
    return names


MODULES = _modules()


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith(f"{PACKAGE}.validators")))
def test_validators_import_neither_prefect_nor_the_gate_nor_flows(module: str) -> None:
    foreign = {"prefect", "slack_sdk", "slack_bolt", "anthropic", "httpx", "requests", "urllib3"}
    ours = (f"{PACKAGE}.gates", f"{PACKAGE}.flows")
    names = _all_imports(module, MODULES[module])
    bad = [n for n in names if n.split(".")[0] in foreign or n.startswith(ours)]
    assert bad == [], f"{module} imports {bad}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith(f"{PACKAGE}.gates")))
def test_the_gate_never_imports_a_flow(module: str) -> None:
    bad = [n for n in _all_imports(module, MODULES[module]) if n.startswith(f"{PACKAGE}.flows")]
    assert bad == [], f"{module} imports {bad}"


def test_no_import_cycles() -> None:
    graph = {
        module: sorted({n for n in _import_time_imports(module, path) if n in MODULES and n != module})
        for module, path in MODULES.items()
    }
    # A package's __init__ is imported with any of its submodules: an edge into a package's own
    # __init__ from inside the package is how Python works, not a cycle of ours.
    for module, targets in graph.items():
        graph[module] = [t for t in targets if not module.startswith(t + ".")]
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in graph[module]:
            if state.get(target) == 1:
                cycle = [*path[path.index(target) :], target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_the_rules_see_every_module() -> None:
    # A layer folder that moved or a parse that silently found nothing would make the rules vacuous.
    assert {m.split(".")[1] for m in MODULES} == set(LAYERS)
    assert len(MODULES) > 40
    assert f"{PACKAGE}.gates.gate" in MODULES and f"{PACKAGE}.gates.slack.app" in MODULES
