"""Packages depend one way: no import cycle between robustrepro's packages and top-level modules.

Every import counts, those inside functions too, so a lazy import cannot hide a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import robustrepro

SRC = Path(robustrepro.__file__).parent


def _unit(module: str) -> str | None:
    """The package or top-level module of robustrepro that `module` belongs to."""
    parts = module.split(".")
    return parts[1] if parts[0] == "robustrepro" and len(parts) > 1 else None


def import_graph(root: Path = SRC) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        relative = path.relative_to(root.parent).with_suffix("")
        module = ".".join(relative.parts).removesuffix(".__init__")
        unit = _unit(module)
        if unit is None:
            continue
        targets = graph.setdefault(unit, set())
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for name in names:
                other = _unit(name)
                # `from robustrepro import __version__` names an attribute, not a unit
                if other not in (None, unit) and ((root / other).is_dir() or (root / f"{other}.py").is_file()):
                    targets.add(other)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path [a, b, ..., a], or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_between_packages():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_cycle_finder_finds_a_lazy_import_cycle(tmp_path):
    """The check itself must fail on a cycle closed by an import inside a function."""
    package = tmp_path / "robustrepro"
    (package / "alpha").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "alpha" / "__init__.py").write_text("from robustrepro.beta import thing\n")
    (package / "beta.py").write_text("def thing():\n    from robustrepro.alpha import other\n")
    graph = import_graph(package)
    assert graph["alpha"] == {"beta"} and graph["beta"] == {"alpha"}
    assert find_cycle(graph) == ["alpha", "beta", "alpha"]
