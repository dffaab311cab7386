"""The package reads as the data flow: imports point one way along it, with no cycle, and product code never
imports the demo's stand-ins for the agencies. Walks every import statement (module level or inside a
function) with ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

from kho.settings import REPO

PACKAGES = ("kho", "publishers", "flow", "demo")

# Each module's place along the flow: a module may import its own stage, or stages before it, never after.
STAGES = [
    ("kho.settings", "kho.errors"),  # the ground everything stands on
    ("kho.catalog", "kho.meta"),  # the contract every stage reads, and the metadata schema
    ("kho.delivering",),
    ("kho.landing",),
    ("kho.conforming",),
    ("kho.validating",),
    ("publishers",),
    ("kho.operations", "kho.cli", "kho"),  # running Kho on one machine, the command line
    ("flow",),  # landing -> validating -> publishing, as the DAGs call it
    ("dags", "demo"),
]
# Publishing reaches the platform through settings, catalog and metadata only, never through operations.
PUBLISHERS_MAY_IMPORT = ("kho.settings", "kho.errors", "kho.catalog", "kho.meta", "publishers")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> dict[str, Path]:
    files = [p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")]
    files += list((REPO / "dags").glob("*.py"))
    return {module_name(p): p for p in files if ".kho" not in p.parts}


def imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The project modules ``path`` imports (``from a import b`` counts as ``a.b`` when that is a module)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], base]
                ).strip(".")
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def graph() -> dict[str, set[str]]:
    mods = sources()
    known = set(mods)
    return {name: imports(path, name, known) for name, path in mods.items()}


def stage(module: str) -> int:
    best, rank = -1, None
    for i, prefixes in enumerate(STAGES):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, rank = len(p), i
    assert rank is not None, f"{module} has no stage: add it to STAGES"
    return rank


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def parents_closed(g: dict[str, set[str]]) -> dict[str, set[str]]:
    """Importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` too: count those edges."""
    return {
        m: deps | {".".join(d.split(".")[:i]) for d in deps for i in range(1, d.count(".") + 1)} - {m}
        for m, deps in g.items()
    }


def test_no_import_cycle():
    g = graph()
    assert cycles(g) == []


def test_imports_point_one_way_along_the_flow():
    backwards = sorted(
        f"{m} ({STAGES[stage(m)][0]}) imports {d} ({STAGES[stage(d)][0]})"
        for m, deps in graph().items()
        for d in deps
        if stage(d) > stage(m)
    )
    assert backwards == []


def test_product_code_never_imports_the_demo():
    offenders = sorted(
        f"{m} imports {d}"
        for m, deps in parents_closed(graph()).items()
        if not m.startswith("demo")
        for d in deps
        if d == "demo" or d.startswith("demo.")
    )
    assert offenders == []


def test_publishers_use_settings_catalog_and_metadata_only():
    offenders = sorted(
        f"{m} imports {d}"
        for m, deps in graph().items()
        if m.startswith("publishers")
        for d in deps
        if not any(d == p or d.startswith(p + ".") for p in PUBLISHERS_MAY_IMPORT)
    )
    assert offenders == []


def test_the_walk_sees_imports_inside_functions(tmp_path):
    """The checks above cannot pass by not seeing: a function-level import is an edge, a cycle is found."""
    mod = tmp_path / "m.py"
    mod.write_text("def f():\n    from kho.landing import land\n    import kho.validating.quality\n")
    known = {"kho.landing", "kho.landing.land", "kho.validating", "kho.validating.quality"}
    assert imports(mod, "x", known) == {"kho.landing.land", "kho.validating.quality"}
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
