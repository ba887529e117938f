"""Session guards and shared fixtures for the harness's own tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from importlib.metadata import version

import pytest

from probes._embedded import EmbeddedWorld

LOST = ("--dist loadgroup does not group under pytest {pytest} with pytest-xdist {xdist} (pytest-xdist#1386): "
        "the proof, othergw's catalogue and the load tests would run once per worker; install pytest<9.2")


def _release(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version(name).split(".")[:2] if part.isdigit())


def pytest_configure(config: pytest.Config) -> None:
    """Refuse, in one line, the pytest and pytest-xdist pair whose loadgroup is known not to group."""
    if os.environ.get("PYTEST_XDIST_WORKER") or config.getoption("dist", default="no") != "loadgroup":
        return
    if _release("pytest") >= (9, 2) and _release("pytest-xdist") <= (3, 8):
        raise pytest.UsageError(LOST.format(pytest=version("pytest"), xdist=version("pytest-xdist")))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``--dist loadgroup``, an ``xdist_group`` test must carry its group in its node ID.

    The proof, othergw's catalogue and the load tests rely on their group
    running in one worker (one probe pool, one process); when pytest-xdist
    cannot group, they would run once per worker, twice the work, and nothing
    would say so. (A worker's error reaches the terminal as an INTERNALERROR
    naming the first test that lost its group.)
    """
    if not os.environ.get("PYTEST_XDIST_WORKER") or not config.getoption("loadgroup", default=False):
        return
    lost = [item.nodeid for item in items if item.get_closest_marker("xdist_group") and "@" not in item.nodeid.rpartition("]")[2]]
    if lost:
        raise pytest.UsageError(LOST.format(pytest=version("pytest"), xdist=version("pytest-xdist")) + f" (e.g. {lost[0]})")


@pytest.fixture(scope="module")
def world() -> Iterator[EmbeddedWorld]:
    """One embedded world (reference gateways on loopback lanes) for a module's tests."""
    w = EmbeddedWorld().start()
    try:
        yield w
    finally:
        w.stop()
