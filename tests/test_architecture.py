"""Every import rule of ARCHITECTURE.md ("Import direction"), enforced by reading every import.

A rule the document states and no test enforces is a rule nobody keeps: each
rule there has one test here, and a module of ``probes`` that no layer names
fails until someone decides where it belongs.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

# probes' layers, bottom to top: a module imports only from its own layer or the ones below.
LAYERS: dict[str, set[str]] = {
    "wire formats": {"_errors", "_signing", "_wire", "_caller", "_retell", "_dialogue", "_calcom", "_defaults", "_exitcodes",
                     "_printable", "_yaml", "_bounded", "_argtypes", "_tls"},
    "description": {"_scenario", "_contract", "_plan", "_profile", "_rules", "_safety"},
    "evidence": {"_evidence", "_spans", "_pii", "_redact", "_progress", "_deadline"},
    "engine": {"_runner", "_observers", "_checks", "_gate", "_pool", "_stack", "_bookings", "_cleanup"},
    "pipeline": {"_probe", "_stack_watch"},
    "reporters": {"_report", "_timeline", "_allure", "_categories", "_allure_render", "_pushgateway", "_measures"},
    "fronts": {"_cli", "plugin", "_embedded", "_stack_session", "_targets", "_reporters", "__init__", "_load", "_probeconfig", "_run",
               "_exporter"},
}
RANK = {module: n for n, modules in enumerate(LAYERS.values()) for module in modules}
WIRE = LAYERS["wire formats"]
FRONTS = LAYERS["fronts"]
SUBPACKAGES = {"_checks", "_observers"}  # used from outside only through their __init__
IO_MODULES = {"httpx", "asyncio", "socket", "subprocess", "requests", "urllib", "threading", "time"}


def _imports(path: Path, *, typing_only: bool = True) -> Iterator[tuple[str, list[str]]]:
    """(module, names imported from it) for every import of ``path``, relative ones resolved.

    ``from pkg import submodule`` counts as importing the submodule. With
    ``typing_only=False`` imports under ``if TYPE_CHECKING:`` are left out:
    they never run, so they cannot make a cycle.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parts = path.with_suffix("").parts
    skipped = set() if typing_only else {id(n) for node in ast.walk(tree) if _is_type_checking(node) for n in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            module = f"{'.'.join(parts[: -node.level])}{'.' + node.module if node.module else ''}" if node.level else node.module
            if module is None:
                continue
            submodules = [a.name for a in node.names if _is_module(module, a.name)]
            for name in submodules:
                yield f"{module}.{name}", []
            rest = [a.name for a in node.names if a.name not in submodules]
            if rest or not submodules:
                yield module, rest


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _is_module(package: str, name: str) -> bool:
    base = Path(*package.split("."))
    return (base / f"{name}.py").exists() or (base / name / "__init__.py").exists()


def _modules(path: Path, *, typing_only: bool = True) -> set[str]:
    return {module for module, _ in _imports(path, typing_only=typing_only)}


def _py(root: str) -> list[Path]:
    return sorted(Path(root).rglob("*.py"))


def _top(module: str) -> str | None:
    """``_checks`` for ``probes._checks._metrics``; None outside probes."""
    parts = module.split(".")
    return parts[1] if parts[0] == "probes" and len(parts) > 1 else ("__init__" if parts == ["probes"] else None)


def _own(path: Path) -> str:
    """The layer key of a file of probes (its top-level module or subpackage)."""
    return path.parts[1].removesuffix(".py") if len(path.parts) > 1 else path.stem


PROBES = [p for p in _py("probes") if p.parts[0] == "probes"]


@pytest.mark.parametrize("path", PROBES, ids=str)
def test_every_module_of_probes_has_a_layer(path: Path) -> None:
    assert _own(path) in RANK, f"{path}: add it to a layer in ARCHITECTURE.md ('Import direction') and in LAYERS here"


@pytest.mark.parametrize("path", PROBES, ids=str)
def test_imports_point_down_the_layers(path: Path) -> None:
    own = RANK.get(_own(path))
    upward = sorted(m for m in _modules(path) if (top := _top(m)) in RANK and own is not None and RANK[top] > own)
    assert not upward, f"{path} ({_own(path)}) imports from a higher layer: {upward}"


@pytest.mark.parametrize("path", PROBES, ids=str)
def test_subpackages_are_used_through_their_public_surface(path: Path) -> None:
    reaching = sorted(m for m in _modules(path) if len(parts := m.split(".")) > 2 and parts[0] == "probes"
                      and parts[1] in SUBPACKAGES and parts[1] != _own(path) and parts[2].startswith("_"))
    assert not reaching, f"{path} reaches into a subpackage's private modules: {reaching}"


@pytest.mark.parametrize("path", _py("probes") + _py("mocks") + _py("examples"), ids=str)
def test_no_private_name_is_imported_from_another_module(path: Path) -> None:
    private = sorted(f"{module}.{name}" for module, names in _imports(path) for name in names
                     if name.startswith("_") and not name.startswith("__"))
    assert not private, f"{path} imports private names: {private}"


@pytest.mark.parametrize("path", [p for p in _py("probes/_checks")], ids=str)
def test_checks_are_pure_functions_of_the_evidence(path: Path) -> None:
    io = sorted(m for m in _modules(path) if m.split(".")[0] in IO_MODULES)
    assert not io, f"{path} (a check) imports {io}: checks judge evidence, they do not fetch it"


@pytest.mark.parametrize("path", [p for p in PROBES if _own(p) in LAYERS["reporters"]], ids=str)
def test_reporters_read_verdicts_only(path: Path) -> None:
    running = LAYERS["engine"] | LAYERS["pipeline"]
    bad = sorted(m for m in _modules(path) if _top(m) in running)
    assert not bad, f"{path} (a reporter) imports {bad}: a reporter renders a verdict, it does not run or judge"


@pytest.mark.parametrize("path", PROBES, ids=str)
def test_only_fronts_import_mocks(path: Path) -> None:
    if _own(path) in FRONTS:
        return
    assert not any(m == "mocks" or m.startswith("mocks.") for m in _modules(path)), f"{path} imports mocks"


@pytest.mark.parametrize("path", _py("mocks"), ids=str)
def test_mocks_use_only_the_wire_formats_of_probes(path: Path) -> None:
    bad = sorted(m for m in _modules(path) if m.startswith("probes") and _top(m) not in WIRE)
    assert not bad, f"{path} imports {bad} (mocks may use only the wire formats)"


@pytest.mark.parametrize("path", _py("examples"), ids=str)
def test_examples_import_neither_probes_nor_mocks(path: Path) -> None:
    bad = sorted(m for m in _modules(path) if m.split(".")[0] in ("probes", "mocks"))
    assert not bad, f"{path} (an independent example) imports {bad}"


@pytest.mark.parametrize("path", _py("probes") + _py("mocks"), ids=str)
def test_probes_and_mocks_do_not_import_examples(path: Path) -> None:
    assert not any(m.split(".")[0] == "examples" for m in _modules(path)), path


@pytest.mark.parametrize("path", _py("probes") + _py("mocks") + _py("tests") + _py("examples"), ids=str)
def test_nothing_imports_scenarios_or_locustfiles(path: Path) -> None:
    assert not any(m.split(".")[0] in ("scenarios", "locustfiles") for m in _modules(path)), path


@pytest.mark.parametrize("root", ["probes", "mocks", "examples"])
def test_no_import_cycles(root: str) -> None:
    graph: dict[str, set[str]] = {}
    for path in _py(root):
        name = ".".join(path.with_suffix("").parts).removesuffix(".__init__")
        graph[name] = {m for m in _modules(path, typing_only=False) if m.split(".")[0] == root}
    cycles = _cycles(graph)
    assert not cycles, f"import cycles in {root}: {cycles}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected set of more than one module (Tarjan), as sorted lists."""
    edges = {n: {m for m in deps if m in graph} for n, deps in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


@pytest.mark.parametrize("path", _py("probes") + _py("mocks"), ids=str)
def test_only_locust_modules_import_locust(path: Path) -> None:
    """``import locust`` monkey-patches the whole process with gevent: it may not reach pytest or probes' asyncio code."""
    engine = {m for m in _modules(path) if m.split(".")[0] in ("locust", "gevent", "geventhttpclient")}
    allowed = path.parent.name == "_load" and path.stem.startswith("_locust")
    assert allowed or not engine, f"{path} imports {sorted(engine)}"


PIPELINE = {"_plan", "_runner", "_probe", "_progress", "_deadline", "_cleanup", "_bookings", "_measures", "_safety", "_report",
            "_pushgateway", "_evidence", "_timeline"}
SCHEDULED_FRONTS = ("probes._run", "probes._exporter", "probes._probeconfig", "probes._cli", "probes.plugin")


@pytest.mark.parametrize("path", [p for p in _py("probes") if p.parent.name in ("probes", "_observers", "_checks")
                                  and (p.stem in PIPELINE or p.parent.name != "probes")], ids=str)
def test_the_pipeline_imports_no_front(path: Path) -> None:
    """Data flows one way: fronts subscribe to the pipeline's events (probes._progress); the pipeline never imports them."""
    bad = {m for m in _modules(path) if any(m == f or m.startswith(f + ".") for f in SCHEDULED_FRONTS)}
    assert not bad, f"{path} imports {sorted(bad)}"
