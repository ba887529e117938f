"""The public surface is exactly ``probes.__all__``: adding or dropping a name is deliberate."""

from __future__ import annotations

import probes


def test_all_is_sorted_and_complete() -> None:
    assert probes.__all__ == sorted(probes.__all__, key=lambda n: (not n.isupper(), n))
    public = {n for n in dir(probes) if not n.startswith("_") and n != "annotations"}
    submodules = {n for n in public if type(getattr(probes, n)).__name__ == "module"}
    assert public - submodules == set(probes.__all__)


def test_every_exported_member_belongs_to_probes() -> None:
    for name in probes.__all__:
        member = getattr(probes, name)
        module = getattr(member, "__module__", "probes")
        assert module.startswith("probes"), f"{name} comes from {module}"
