"""The import graph runs one way (ARCHITECTURE.md, "Layers").

Every module of the `aigif` and `aigif_codecs` packages is parsed (function bodies
included) and given a layer by LAYERS below.  The test fails on
- a module with no layer (new modules must be placed deliberately),
- an import of a module in a higher layer,
- an import cycle between modules, whatever their layers,
- a private name (`_x`) of one module used by another, by `from m import _x` or `m._x`,
- a function-level import of the project's own modules without a `# lazy:` reason on its
  line or the line above (allowed only to keep `import aigif` light or to guard an extra).

The checker itself is tested on a synthetic package with one deliberate upward import,
so a checker that silently accepts everything would fail here too.
"""

from __future__ import annotations

import ast
import fnmatch
import textwrap
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = {"aigif": REPO / "aigif", "aigif_codecs": REPO / "codecs"}

# Lowest layer first.  A module may import modules of its own layer or lower ones (never
# in a cycle).  Patterns are fnmatch globs over dotted module names; the first match wins.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("aigif.errors", "aigif.limits", "aigif._extras", "aigif.version")),
    ("primitives", ("aigif.fileio", "aigif.bits", "aigif.pngchunks", "aigif.imagemodes")),
    ("data model", ("aigif.extensions", "aigif.comfyui_graph", "aigif.syntax")),
    ("registry, text and framing", ("aigif.registry", "aigif.container", "aigif.text", "aigif.text.*")),
    ("spec policy and segments", ("aigif.defaults", "aigif.jsonform", "aigif.segments", "aigif.segments.*")),
    ("file format", ("aigif.format",)),
    ("pixels", ("aigif.fidelity", "aigif.coset", "aigif.metrics", "aigif_codecs", "aigif_codecs.*", "aigif.pixels")),
    ("generation", ("aigif.diffusion", "aigif.diffusion.*")),
    ("composition", ("aigif.regenerate",)),
    ("tools", ("aigif.importers", "aigif.importers.*", "aigif.exporters", "aigif.exporters.*")),
    ("interface", ("aigif.cli", "aigif.cli.*")),
    ("public API", ("aigif", "aigif.__main__")),
]

LAZY_MARK = "# lazy:"


@dataclass(frozen=True)
class Use:
    importer: str
    target: str  # a module of the project
    name: str | None  # the imported or accessed name, if any
    line: int
    in_function: bool
    reason: bool  # a `# lazy:` comment on the line or the line above


def module_names(packages: dict[str, Path]) -> dict[str, Path]:
    found = {}
    for package, root in packages.items():
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root).with_suffix("").parts
            if rel[-1] == "__init__":
                rel = rel[:-1]
            found[".".join((package, *rel))] = path
    return found


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def uses_of(module: str, path: Path, modules: dict[str, Path]) -> list[Use]:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source)
    is_package = path.name == "__init__.py"

    def reason(lineno: int) -> bool:
        here = lines[lineno - 1] if lineno - 1 < len(lines) else ""
        above = lines[lineno - 2] if lineno >= 2 else ""
        return LAZY_MARK in here or above.strip().startswith(LAZY_MARK)

    uses: list[Use] = []
    bound: dict[str, str] = {}  # local name -> project module it names (for m._x checks)

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.ImportFrom):
                base = _resolve(module, is_package, child)
                for alias in child.names:
                    full = f"{base}.{alias.name}"
                    if full in modules:
                        uses.append(Use(module, full, None, child.lineno, in_function, reason(child.lineno)))
                        bound[alias.asname or alias.name] = full
                    elif base in modules:
                        uses.append(Use(module, base, alias.name, child.lineno, in_function, reason(child.lineno)))
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name in modules:
                        uses.append(Use(module, alias.name, None, child.lineno, in_function, reason(child.lineno)))
                        if alias.asname:
                            bound[alias.asname] = alias.name
            elif isinstance(child, ast.Attribute) and isinstance(child.value, ast.Name) and child.value.id in bound:
                uses.append(Use(module, bound[child.value.id], child.attr, child.lineno, in_function, True))
            visit(child, nested)

    visit(tree, False)
    return uses


def layer_of(module: str) -> int | None:
    for index, (_title, patterns) in enumerate(LAYERS):
        if any(fnmatch.fnmatchcase(module, p) for p in patterns):
            return index
    return None


def _is_private(name: str | None) -> bool:
    return bool(name) and name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def problems(packages: dict[str, Path]) -> list[str]:
    modules = module_names(packages)
    found: list[str] = []
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        mine = layer_of(module)
        if mine is None:
            found.append(f"{module}: no layer in tests/project/test_layers.py LAYERS")
            continue
        for use in uses_of(module, path, modules):
            where = f"{module}:{use.line}"
            if use.target == module:
                continue
            if _is_private(use.name):
                found.append(f"{where}: uses private {use.target}.{use.name}")
            graph[module].add(use.target)
            theirs = layer_of(use.target)
            if theirs is not None and theirs > mine:
                found.append(f"{where}: imports {use.target} ({LAYERS[theirs][0]}) from the lower layer {LAYERS[mine][0]}")
            if use.in_function and not use.reason:
                found.append(f"{where}: function-level import of {use.target} without a '{LAZY_MARK} reason' comment")
    for cycle in _cycles(graph):
        found.append("import cycle: " + " -> ".join(cycle))
    return found


def test_the_project_imports_one_way():
    assert problems(PACKAGES) == []


def _write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def test_checker_catches_an_upward_import(tmp_path):
    # The real tree with one module added that reaches up from the foundation layer to the CLI.
    clean = problems(PACKAGES)
    pkg = tmp_path / "aigif"
    import shutil

    shutil.copytree(PACKAGES["aigif"], pkg, ignore=shutil.ignore_patterns("__pycache__", "data"))
    (pkg / "limits.py").write_text((pkg / "limits.py").read_text() + "\nfrom .cli import main  # an upward import\n")
    found = problems({"aigif": pkg, "aigif_codecs": PACKAGES["aigif_codecs"]})
    added = [p for p in found if p not in clean]
    assert any("aigif.limits" in p and "imports aigif.cli" in p for p in added), added


def test_checker_catches_cycles_private_names_and_silent_lazy_imports(tmp_path):
    root = _write_tree(
        tmp_path / "aigif",
        {
            "__init__.py": "",
            "errors.py": "from .limits import MAX\n",  # errors <-> limits: a cycle within a layer
            "limits.py": "from .errors import _hidden\nMAX = 1\n",  # and a private name
            "bits.py": "def f():\n    from . import errors\n    return errors\n",  # lazy import, no reason
            "fileio.py": "def f():\n    # lazy: keeps import light\n    from . import errors\n    return errors\n",
        },
    )
    found = problems({"aigif": root})
    assert any(p.startswith("import cycle: aigif.errors -> aigif.limits") for p in found), found
    assert any("uses private aigif.errors._hidden" in p for p in found), found
    assert any(p.startswith("aigif.bits:2: function-level import") for p in found), found
    assert not any(p.startswith("aigif.fileio") for p in found), found


def test_every_layer_named_in_architecture_md():
    text = (REPO / "ARCHITECTURE.md").read_text(encoding="utf-8")
    missing = [title for title, _ in LAYERS if title not in text]
    assert not missing, f"ARCHITECTURE.md does not describe the layers {missing}"
