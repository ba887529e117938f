"""The import direction of ARCHITECTURE.md, enforced by reading every import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

WIRE = {"_errors", "_signing", "_wire", "_caller", "_retell", "_dialogue", "_calcom", "_defaults"}
FRONTS = {"_cli", "plugin", "_embedded", "_stack_session"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the package
                pkg = ".".join(path.with_suffix("").parts[: -node.level])
                if node.module:
                    out.add(f"{pkg}.{node.module}")
                else:  # from . import _x
                    out |= {f"{pkg}.{a.name}" for a in node.names}
            elif node.module:
                out.add(node.module)
    return out


def _is_wire(module: str) -> bool:
    parts = module.split(".")
    return len(parts) == 2 and parts[0] == "probes" and parts[1] in WIRE


def _py(root: str) -> list[Path]:
    return sorted(Path(root).rglob("*.py"))


@pytest.mark.parametrize("path", _py("probes"), ids=str)
def test_only_fronts_import_mocks(path: Path) -> None:
    if path.stem in FRONTS:
        return
    assert not any(m == "mocks" or m.startswith("mocks.") for m in _imports(path)), f"{path} imports mocks"


@pytest.mark.parametrize("path", [p for p in _py("probes") if p.parent.name == "probes" and p.stem in WIRE], ids=str)
def test_wire_formats_import_only_wire_formats(path: Path) -> None:
    ours = {m for m in _imports(path) if m.startswith("probes")}
    bad = {m for m in ours if not _is_wire(m)}
    assert not bad, f"{path} (a wire format) imports {sorted(bad)}"


@pytest.mark.parametrize("path", _py("mocks"), ids=str)
def test_mocks_use_only_wire_formats_of_probes(path: Path) -> None:
    ours = {m for m in _imports(path) if m.startswith("probes")}
    bad = {m for m in ours if not _is_wire(m)}
    assert not bad, f"{path} imports {sorted(bad)} (mocks may use only the wire formats)"


@pytest.mark.parametrize("path", _py("examples"), ids=str)
def test_examples_import_neither_probes_nor_mocks(path: Path) -> None:
    """An example gateway proves callprobe on code it did not shape: it may not borrow callprobe's own."""
    bad = {m for m in _imports(path) if m.split(".")[0] in ("probes", "mocks")}
    assert not bad, f"{path} imports {sorted(bad)} (examples stand alone)"


@pytest.mark.parametrize("path", _py("probes") + _py("mocks"), ids=str)
def test_probes_and_mocks_do_not_import_examples(path: Path) -> None:
    assert not any(m.split(".")[0] == "examples" for m in _imports(path)), path


@pytest.mark.parametrize("path", _py("probes") + _py("mocks") + _py("tests") + _py("examples"), ids=str)
def test_nothing_imports_scenarios_or_locustfiles(path: Path) -> None:
    assert not any(m.split(".")[0] in ("scenarios", "locustfiles") for m in _imports(path)), path


PIPELINE = {"_plan", "_runner", "_probe", "_progress", "_deadline", "_cleanup", "_bookings", "_measures", "_safety", "_report",
            "_pushgateway", "_evidence", "_timeline"}
SCHEDULED_FRONTS = ("probes._run", "probes._exporter", "probes._probeconfig", "probes._cli", "probes.plugin")


@pytest.mark.parametrize("path", [p for p in _py("probes") if p.parent.name in ("probes", "_observers", "_checks")
                                  and (p.stem in PIPELINE or p.parent.name != "probes")], ids=str)
def test_the_pipeline_imports_no_front(path: Path) -> None:
    """Data flows one way: fronts subscribe to the pipeline's events (probes._progress); the pipeline never imports them."""
    bad = {m for m in _imports(path) if any(m == f or m.startswith(f + ".") for f in SCHEDULED_FRONTS)}
    assert not bad, f"{path} imports {sorted(bad)}"
