"""Layers import downward only (DESIGN.md §3): no import cycle between modules, no import of a higher layer.

Every module under ``selfsup/`` is parsed with ``ast``. Every ``import`` counts, wherever it is (inside
functions and ``if TYPE_CHECKING:`` blocks too); relative imports are resolved; ``from pkg import name``
is an import of ``pkg.name`` when that is a module. Importing ``a.b.c`` also runs ``a/b/__init__.py``, so
that is an edge too, except to the importer's own packages (already importing) and to the top package
``selfsup/__init__.py`` (the curated public API). ``selfsup.methods`` imports its method modules through
``importlib``, which the walk does not see: importing ``selfsup.methods.base`` registers every method,
which is one more reason ``methods/`` sits below ``train/``.
"""

from __future__ import annotations

import ast
from pathlib import Path

SELFSUP = Path(__file__).resolve().parents[1] / "selfsup"

# Bottom to top; a module belongs to the layer of its longest matching path prefix. A module may import
# its own layer (if that makes no cycle) and those below.
LAYERS = (
    ("selfsup/types.py", "selfsup/registry.py", "selfsup/configs/"),
    ("selfsup/views/", "selfsup/nn/", "selfsup/schedules.py", "selfsup/monitors/"),
    ("selfsup/losses/",),
    ("selfsup/backbones/", "selfsup/data/"),
    ("selfsup/export.py",),
    ("selfsup/methods/",),
    # eval metrics: what the trainer's online monitors also compute
    ("selfsup/eval/__init__.py", "selfsup/eval/features.py", "selfsup/eval/knn.py",
     "selfsup/eval/linear_probe.py", "selfsup/eval/baselines.py"),
    ("selfsup/train/",),
    ("selfsup/runs.py",),  # loads back what the trainer writes
    ("selfsup/bench.py", "selfsup/viz/"),
    ("selfsup/eval/",),  # eval protocols; findings renders its pages through viz
    ("selfsup/cli/", "selfsup/__init__.py"),
)  # fmt: skip

# (importer, imported prefix): the only imports allowed to point up. The registry imports
# ``selfsup.methods`` lazily (it registers the built-in methods on first lookup) and names ``Method`` for
# type checking only; methods register themselves through it, so it sits below them.
ALLOWED_UP = {("selfsup.registry", "selfsup.methods")}


def modules(package: Path) -> dict[str, Path]:
    """Dotted name -> file of every module under ``package`` (a package is its ``__init__.py``)."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _known(name: str, known: dict[str, Path]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports(known: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the modules of ``known`` it imports (its own name never included)."""
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        named: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                named.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                origin = node.module or ""
                if node.level:
                    origin = ".".join(package[: len(package) - node.level + 1] + ([origin] if origin else []))
                named.update(
                    f"{origin}.{a.name}" if f"{origin}.{a.name}" in known else origin for a in node.names
                )
        targets = {t for n in named if (t := _known(n, known))}
        for target in list(targets):  # importing a.b.c runs a/b/__init__.py
            parts = target.split(".")
            for i in range(2, len(parts)):
                parent = ".".join(parts[:i])
                if not (name == parent or name.startswith(parent + ".")):
                    targets.add(parent)
        graph[name] = targets - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One shortest cycle through each strongly connected component of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components = []

    def visit(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = {stack.pop()}
            while v not in component:
                component.add(stack.pop())
            components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    found = []
    for component in (c for c in components if len(c) > 1):
        start = min(component)
        paths, seen = [[start]], {start}
        while paths:  # breadth-first back to ``start`` inside the component
            path = paths.pop(0)
            if start in graph[path[-1]] and len(path) > 1:
                found.append([*path, start])
                break
            for w in sorted(graph[path[-1]] & component - seen):
                seen.add(w)
                paths.append([*path, w])
    return sorted(found)


def layer_of(path: Path) -> tuple[int, str] | None:
    """(layer index, the ``LAYERS`` entry) of the module in ``path``; None if no entry matches."""
    rel = path.relative_to(SELFSUP.parent).as_posix()
    matches = [(len(p), i, p) for i, layer in enumerate(LAYERS) for p in layer if rel.startswith(p)]
    return max(matches)[1:] if matches else None


def upward_imports(graph: dict[str, set[str]], known: dict[str, Path]) -> list[str]:
    found = []
    for name, targets in sorted(graph.items()):
        for target in sorted(targets):
            if any(t.startswith(target + ".") for t in targets):
                continue  # a package run by importing one of its modules: that module is reported
            if any(name == a and (target + ".").startswith(b + ".") for a, b in ALLOWED_UP):
                continue
            below, above = layer_of(known[name]), layer_of(known[target])
            if below and above and above[0] > below[0]:
                found.append(f"{name} ({below[1]}) imports {target} ({above[1]})")
    return found


def test_every_module_has_a_layer() -> None:
    unplaced = [n for n, p in modules(SELFSUP).items() if layer_of(p) is None]
    assert not unplaced, f"add these modules to LAYERS in {__file__}: {unplaced}"


def test_no_import_cycles() -> None:
    found = cycles(imports(modules(SELFSUP)))
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_imports_point_down_the_layers() -> None:
    known = modules(SELFSUP)
    found = upward_imports(imports(known), known)
    assert not found, "imports of a higher layer:\n" + "\n".join(found)


def test_the_walk_sees_every_kind_of_import(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "from pkg.a import f\n",
        "a.py": "def f():\n    from .sub import b  # lazy, relative, a module named in a from-import\n",
        "sub/__init__.py": "from .c import g\n",
        "sub/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.d\n",
        "sub/c.py": "from .. import d, f\n",  # f is no module: an import of pkg itself
        "d.py": "import os\n",
        "e.py": "from pkg.sub.b import x\n",  # also runs pkg/sub/__init__.py
    }
    for rel, text in files.items():
        (pkg / rel).write_text(text)
    graph = imports(modules(pkg))
    assert graph == {
        "pkg": {"pkg.a"},
        "pkg.a": {"pkg.sub", "pkg.sub.b"},
        "pkg.sub": {"pkg.sub.c"},
        "pkg.sub.b": {"pkg.d"},
        "pkg.sub.c": {"pkg", "pkg.d"},
        "pkg.d": set(),
        "pkg.e": {"pkg.sub", "pkg.sub.b"},
    }
    assert cycles(graph) == [["pkg", "pkg.a", "pkg.sub", "pkg.sub.c", "pkg"]]
    assert cycles({"x": {"y"}, "y": {"x", "z"}, "z": {"y"}}) == [["x", "y", "x"]]


def test_a_new_back_edge_is_named() -> None:
    known = modules(SELFSUP)
    graph = {name: set() for name in known}
    graph["selfsup.methods.dino"] = {"selfsup.losses.dino", "selfsup.train", "selfsup.train.step"}
    graph["selfsup.registry"] = {"selfsup.methods", "selfsup.methods.base"}  # the one allowed
    assert upward_imports(graph, known) == [
        "selfsup.methods.dino (selfsup/methods/) imports selfsup.train.step (selfsup/train/)"
    ]
