"""The scheduled-probe config file: named targets and named probes (modules), shared by ``run`` and the exporter.

Prometheus users know this shape from blackbox_exporter: a module is *what*
to probe (here a scenario, with its own timeout and seed), a target *where*
(here a target profile, by name). ``GET /probe?module=booking&target=prod``
and ``callprobe run booking --config callprobe.yml --target prod`` read the
same file::

    targets:
      prod: {profile: prod.yaml}          # a target profile file (relative to this file)
      demo: {embedded: true}              # the embedded reference gateway ("embedded" is always there)
    modules:
      booking: {scenario: happy-path-booking, timeout: 30}
    scenario_dirs: [scenarios]            # module=<scenario name> works for every scenario found here
    location: eu-west-1                   # the location label of pushed probes
    exporter: {concurrency: 4, timeout_offset: 0.5}

Everything is loaded and validated when the file is read (a bad profile or
scenario is one error naming the file and field), and an HTTP request can
only name what was loaded: no module or target name ever becomes a path.

A front (it may start the embedded world, which imports ``mocks``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ._errors import ConfigError, ProbeError
from ._profile import TargetProfile, load_profile, read_config_yaml
from ._scenario import Scenario, load_scenario
from ._yaml import field_path, first_problem, plain_problem

__all__ = ["EMBEDDED", "ExporterSettings", "Module", "ProbeConfig", "Target", "load_config"]

EMBEDDED = "embedded"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TargetEntry(_Model):
    profile: str | None = Field(default=None, description="a target profile file, relative to the config file")
    embedded: bool = Field(default=False, description="the embedded reference gateway (with its own Cal.com mock)")
    defects: list[str] = Field(default_factory=list, description="embedded only: seeded defects (demos, tests)")

    @model_validator(mode="after")
    def _one(self) -> TargetEntry:
        if (self.profile is None) == (not self.embedded):
            raise ValueError("a target is either {profile: FILE} or {embedded: true}")
        if self.defects and not self.embedded:
            raise ValueError("defects are for the embedded target only")
        return self


class ModuleEntry(_Model):
    scenario: str = Field(description="a scenario file (relative to the config file) or the name of one in scenario_dirs")
    timeout: float | None = Field(default=None, gt=0, description="seconds; the scrape's timeout minus the offset when shorter")
    seed: int | None = None
    strict: bool = Field(default=False, description="expectations the target cannot show fail the probe")


class ExporterSettings(_Model):
    concurrency: int = Field(default=4, ge=1, le=256, description="probes running at once; later scrapes wait for a slot")
    timeout_offset: float = Field(default=0.5, ge=0, description="seconds subtracted from the scrape timeout (blackbox: 0.5)")
    default_timeout: float = Field(default=120.0, gt=0, description="the timeout when the scrape sends none (blackbox: 120)")
    history: int = Field(default=100, ge=1, le=10_000, description="recent probes kept for / and /logs (failed ones longer)")
    shutdown_grace: float = Field(default=60.0, ge=0, description="seconds a shutdown waits for running probes' cleanup")


class ConfigFile(_Model):
    targets: dict[str, TargetEntry] = Field(default_factory=dict)
    modules: dict[str, ModuleEntry] = Field(default_factory=dict)
    scenario_dirs: list[str] = Field(default_factory=lambda: ["scenarios"])
    location: str | None = None
    exporter: ExporterSettings = Field(default_factory=ExporterSettings)

    @model_validator(mode="after")
    def _names(self) -> ConfigFile:
        for kind, names in (("targets", self.targets), ("modules", self.modules)):
            for name in names:
                if not NAME.match(name):
                    raise ValueError(f"{kind}.{name}: a name is letters, digits, '_', '.', '-' (at most 128)")
        return self


@dataclass(frozen=True)
class Module:
    """A named probe: its scenario and how to run it."""

    name: str
    scenario: Scenario
    timeout: float | None = None
    seed: int | None = None
    strict: bool = False


@dataclass(frozen=True)
class Target:
    """A named target: a profile, or the embedded world (``profile`` None) with optional seeded defects."""

    name: str
    profile: TargetProfile | None
    defects: frozenset[str] = frozenset()


@dataclass
class ProbeConfig:
    """A loaded config: modules and targets by name, and the embedded world when a probe first needs it."""

    modules: dict[str, Module]
    targets: dict[str, Target]
    location: str | None = None
    exporter: ExporterSettings = field(default_factory=ExporterSettings)
    source: str = "<defaults>"
    _world: Any = None

    def module(self, name: str) -> Module | None:
        return self.modules.get(name) if NAME.match(name or "") else None

    def target(self, name: str) -> Target | None:
        return self.targets.get(name) if NAME.match(name or "") else None

    def add_profile(self, profile: TargetProfile) -> Target:
        """Make a profile given on the command line a target of its own (named as the profile)."""
        target = Target(profile.name, profile)
        self.targets[profile.name] = target
        return target

    @asynccontextmanager
    async def lease(self, target: Target) -> AsyncIterator[TargetProfile]:
        """The profile to probe ``target`` with: itself, or a fresh embedded gateway on a lane of its own."""
        if target.profile is not None:
            yield target.profile
            return
        world = await asyncio.to_thread(self._embedded)
        async with world.lease(target.defects) as profile:
            yield profile

    def _embedded(self) -> Any:
        if self._world is None:
            from ._embedded import EmbeddedWorld

            self._world = EmbeddedWorld().start()
        return self._world

    def close(self) -> None:
        if self._world is not None:
            self._world.stop()
            self._world = None


def _read(path: Path) -> ConfigFile:
    """The config file, read as every hand-written file is (probes._yaml: bounded, duplicate keys refused, lines kept)."""
    doc = read_config_yaml(path, "the config file")
    data = doc.data if doc.data is not None else {}
    problem = plain_problem(data)
    if problem is not None:
        raise ConfigError(f"{path}:{doc.line_of(problem[0])}: {field_path(problem[0])}: {problem[1]}")
    try:
        return ConfigFile.model_validate(data)
    except ValidationError as exc:
        loc, message = first_problem(exc)
        raise ConfigError(f"{path}:{doc.line_of(loc)}: {field_path(loc)}: {message}") from None


def catalogue(dirs: list[Path]) -> dict[str, Scenario]:
    """Every scenario file in ``dirs`` by scenario name (and file stem); a folder that does not exist adds none."""
    found: dict[str, Scenario] = {}
    for folder in dirs:
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.is_dir() else []:
            scenario = load_scenario(path)
            found.setdefault(scenario.name, scenario)
            found.setdefault(path.stem, scenario)
    return found


def _scenario(ref: str, base: Path, known: dict[str, Scenario]) -> Scenario:
    path = base / ref
    if ref in known and not path.is_file():
        return known[ref]
    if path.is_file() or ref.endswith((".yaml", ".yml")):
        return load_scenario(path)
    raise ConfigError(f"scenario {ref!r}: no such file, and no scenario of that name in the scenario folders")


def _target(name: str, entry: TargetEntry, base: Path) -> Target:
    if entry.embedded:
        if entry.defects:
            from ._embedded import EmbeddedWorld

            try:
                EmbeddedWorld(defects=frozenset(entry.defects))  # validates the names; starts nothing
            except ConfigError as exc:
                raise ConfigError(f"targets.{name}.defects: {exc}") from None
        return Target(name, None, frozenset(entry.defects))
    assert entry.profile is not None
    return Target(name, load_profile(base / entry.profile).model_copy(update={"name": name}))


def build_config(data: ConfigFile, base: Path, source: str) -> ProbeConfig:
    """Load every scenario and profile ``data`` names (relative to ``base``)."""
    known = catalogue([base / d for d in data.scenario_dirs])
    modules = {name: Module(name, scenario, None, None, False) for name, scenario in known.items()}
    for name, entry in data.modules.items():
        try:
            scenario = _scenario(entry.scenario, base, known)
        except ProbeError as exc:
            raise ConfigError(f"{source}: modules.{name}: {exc}") from None
        modules[name] = Module(name, scenario, entry.timeout, entry.seed, entry.strict)
    targets = {EMBEDDED: Target(EMBEDDED, None)}
    for name, where in data.targets.items():
        targets[name] = _target(name, where, base)
    return ProbeConfig(modules, targets, data.location, data.exporter, source)


def load_config(path: str | Path | None) -> ProbeConfig:
    """The config file at ``path``; None: no file (the catalogue in ./scenarios, the embedded target)."""
    if path is None:
        return build_config(ConfigFile(), Path.cwd(), "<defaults>")
    p = Path(path)
    return build_config(_read(p), p.parent, str(p))
