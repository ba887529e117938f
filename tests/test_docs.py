"""Docs that match the code: every file a doc or docstring points at exists, and no instruction uses a private module."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

# docs/research cites other repositories' files (Cal.com's, Retell's SDKs'): their paths are not ours to check.
DOCS = [Path("README.md"), Path("ARCHITECTURE.md"), Path("CHANGELOG.md"),
        *sorted(p for p in Path("docs").rglob("*.md") if "research" not in p.parts), *sorted(Path("examples").rglob("*.md"))]
CODE = sorted(p for root in ("probes", "mocks", "examples", "bench") for p in Path(root).rglob("*.py"))
TESTS = sorted(p for p in Path("tests").rglob("*.py") if p.name != "test_docs.py")
_PATH = re.compile(r"(?<![\w./-])((?:docs|probes|mocks|tests|examples|scenarios|bench|locustfiles)/[\w./-]*\w)")


def _cited(text: str) -> set[str]:
    return {m.rstrip(".") for m in _PATH.findall(text) if "*" not in m and "<" not in m}


@pytest.mark.parametrize("path", DOCS + CODE, ids=str)
def test_every_repository_path_it_names_exists(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    missing = sorted(p for p in _cited(text) if not Path(p).exists() and not Path(p.split("::")[0]).exists())
    assert not missing, f"{path} names files that do not exist: {missing}"


@pytest.mark.parametrize("path", DOCS + CODE + TESTS, ids=str)
def test_no_machine_paths_or_external_design_notes(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"/work/|/root/|DESIGN\.md", text), f"{path} points outside the repository"


@pytest.mark.parametrize("path", DOCS, ids=str)
def test_no_instruction_runs_a_private_module(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"python -m probes\._|probes\._\w+\.\w+\(", text), f"{path} tells users to use a private module"
