"""The package's shape: no import circles, imports only down the floors of the pipeline,
modules of at most 500 lines and functions of at most 60.

Imports under ``if TYPE_CHECKING:`` and inside functions count: a type a
module names is part of its design. The floors are listed in docs/architecture.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

#: Lowest first. A module may import its own floor and those below. The longest
#: matching prefix decides a module's floor (``tocsin.channels`` alone is the channel
#: contract; ``tocsin.channels.`` its implementations).
FLOORS: list[tuple[str, ...]] = [
    ("tocsin.core",),
    ("tocsin.config", "tocsin.config.validate", "tocsin.config.types"),
    ("tocsin.store",),
    ("tocsin.channels.data", "tocsin.notify.templates", "tocsin.notify.gotemplate", "tocsin.notify.redact"),
    ("tocsin.channels", "tocsin.remediation"),
    ("tocsin.incidents.plan", "tocsin.incidents.policy"),
    ("tocsin.ingest",),
    ("tocsin.enrich",),
    ("tocsin.dispatch",),
    ("tocsin.mute",),
    ("tocsin.notify",),
    ("tocsin.incidents",),
    ("tocsin.channels.",),
    ("tocsin.remediation.",),
    ("tocsin.config.document", "tocsin.hookspecs", "tocsin.plugins"),
    ("tocsin.replay",),
    ("tocsin.runtime", "tocsin.runtime_flush", "tocsin.runtime_lease", "tocsin.runtime_restore"),
    ("tocsin.web",),
    ("tocsin.daemon",),
    ("tocsin.testing", "tocsin.cli"),
    # The package itself (hookimpl, __version__) is importable from anywhere; the
    # deprecated old names sit above everything.
    ("tocsin.__main__", "tocsin.models", "tocsin.remediations", "tocsin.configtypes", "tocsin.validate"),
]

#: Modules still over 500 lines, with their size today: they may shrink, not grow.
TOO_LARGE: dict[str, int] = {
}

#: Lines a function may have, from its ``def`` to its last line (docstring and nested
#: functions included).
MAX_FUNCTION = 60

#: Functions that are declarative tables (one entry per route), as long as their entries.
TABLES: set[str] = {
    "tocsin.web.v1.incidents:routes",
}

#: Functions still over MAX_FUNCTION lines, with their length today: they may shrink, not grow.
TOO_LONG: dict[str, int] = {
}


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / "tocsin").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def resolve(name: str, known: set[str]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports(mod: str, path: Path, known: set[str]) -> set[str]:
    base = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(r for a in node.names if (r := resolve(a.name, known)))
        elif isinstance(node, ast.ImportFrom):
            src = node.module or ""
            if node.level:
                anchor = base[: len(base) - node.level + 1]
                src = ".".join(anchor + ([node.module] if node.module else []))
            for a in node.names:
                if r := resolve(f"{src}.{a.name}", known) or resolve(src, known):
                    out.add(r)
    out.discard(mod)
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {m: imports(m, p, known) for m, p in mods.items()}


def floor(mod: str) -> int | None:
    best: tuple[int, int] | None = None
    for i, prefixes in enumerate(FLOORS):
        for p in prefixes:
            hit = mod.startswith(p) if p.endswith(".") else (mod == p or mod.startswith(p + "."))
            if hit and (best is None or len(p) > best[1]):
                best = (i, len(p))
    return None if best is None else best[0]


def test_no_import_cycles():
    g = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in g:
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_every_module_has_a_floor():
    assert [m for m in graph() if m != "tocsin" and floor(m) is None] == []


def test_imports_go_down_the_floors():
    upward = [
        f"{m} imports {d}"
        for m, deps in graph().items() if m != "tocsin"
        for d in sorted(deps) if d != "tocsin" and floor(d) > floor(m)  # type: ignore[operator]
    ]
    assert upward == []


def test_modules_stay_small():
    sizes = {m: len(p.read_text().splitlines()) for m, p in modules().items()}
    grown = {m: n for m, n in sizes.items() if n > TOO_LARGE.get(m, 500)}
    assert grown == {}


def function_lengths() -> dict[str, int]:
    """``module:Qual.name`` -> lines, for every function and method, nested ones included."""
    out: dict[str, int] = {}

    def visit(node: ast.AST, module: str, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = prefix + child.name
                out[f"{module}:{name}"] = (child.end_lineno or child.lineno) - child.lineno + 1
                visit(child, module, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, module, prefix + child.name + ".")
            else:
                visit(child, module, prefix)

    for mod, path in modules().items():
        visit(ast.parse(path.read_text()), mod, "")
    return out


def test_functions_stay_short():
    lengths = function_lengths()
    grown = {f: n for f, n in lengths.items() if f not in TABLES and n > TOO_LONG.get(f, MAX_FUNCTION)}
    assert grown == {}
