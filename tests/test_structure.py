"""The import graph of src/disentkit, read from every import statement with ``ast``: no cycles.

A module imports another when any of its ``import`` statements names it, inside functions and under
``TYPE_CHECKING`` too: a lazy import still ties the two modules together.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

#: The library's face (disentkit/__init__.py: load_run, __version__). Python runs it before any module
#: of the library, so an import of it (config reads __version__) is no layering: it is left out.
FACE = "disentkit"

#: the packages at the bottom of the house, and those above them they must never import
LOWER = ("disentkit.data", "disentkit.models", "disentkit.metrics")
UPPER = (
    "disentkit.train", "disentkit.transfer", "disentkit.fragments", "disentkit.sweep", "disentkit.report",
    "disentkit.quickstart", "disentkit.cli",
)  # fmt: skip


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The modules of ``modules`` that the file at ``path`` imports."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found |= {f"{base}.{alias.name}" for alias in node.names} | {base}
    # ``from pkg import name``: the module pkg.name where it is one, else pkg itself
    return {m for m in found if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    """Module → the modules it imports, the library's face left out."""
    paths = [p for p in sorted((SRC / "disentkit").rglob("*.py")) if module_name(p) != FACE]
    modules = {module_name(p) for p in paths}
    return {module_name(p): imported_modules(p, modules) for p in paths}


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def package_of(module: str) -> str:
    """``disentkit.data.files`` → ``disentkit.data``; a top-level module is its own package."""
    return ".".join(module.split(".")[:2])


def test_the_graph_is_read():
    graph = import_graph()
    assert "disentkit.data.base" in graph["disentkit.data.dsprites"]
    assert "disentkit.sweep.jobs" in graph["disentkit.sweep.runner"]  # an import inside a function


def test_cycles_finds_a_loop():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset("abc")]


def test_no_module_cycles():
    found = [sorted(c) for c in cycles(import_graph())]
    assert not found, f"modules that import each other: {found}"


def test_no_package_cycles():
    graph: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        graph.setdefault(package_of(module), set()).update(
            package_of(t) for t in targets if package_of(t) != package_of(module)
        )
    found = [sorted(c) for c in cycles(graph)]
    assert not found, f"packages that import each other: {found}"


def _under(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_no_upward_imports_from_data_models_metrics():
    upward = sorted(
        f"{module} → {target}"
        for module, targets in import_graph().items()
        if _under(module, LOWER)
        for target in targets
        if _under(target, UPPER)
    )
    assert not upward, f"lower packages importing upper ones: {upward}"


def test_no_library_module_imports_a_commands_module():
    offenders = sorted(
        f"{module} → {target}"
        for module, targets in import_graph().items()
        if not module.endswith(".commands") and module != "disentkit.cli"
        for target in targets
        if target.endswith(".commands")
    )
    assert not offenders, f"library modules importing a CLI module: {offenders}"
