"""The callprobe pytest plugin (registered through the ``pytest11`` entry point).

``pytest scenarios/`` collects every YAML scenario under a ``scenarios``
directory as one test item. With no configuration the items run against the
embedded default target (reference gateway, Cal.com mock and alert sink on
loopback); ``--target PROFILE`` or ``CALLPROBE_TARGET_URL`` points the same
catalogue at another gateway. Python scenarios use the ``callprobe`` fixture.
"""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._errors import CheckFailed, ProbeError
from ._evidence import Verdict
from ._printable import clip, printable
from ._profile import TargetProfile
from ._redact import Redactor
from ._report import describe_exception, format_failure
from ._reporters import report_verdict
from ._scenario import Scenario, load_scenario, parse_scenario
from ._targets import Outcome, Targets

__all__ = ["MARKERS", "ScenarioBroken", "ScenarioFailed", "ScenarioItem", "Targets"]

MARKERS = {
    "booking": "scenarios that book, move or cancel an appointment",
    "alerts": "scenarios that assert alerts fired or stayed silent",
    "signatures": "scenarios about Retell signature verification",
    "correlation": "scenarios about correlation IDs across a call",
    "resilience": "Cal.com failures, latency, hangs and rate limits",
    "delivery": "duplicate and out-of-order Retell deliveries",
    "concurrency": "several synthetic calls at once",
    "health": "liveness and readiness endpoints",
    "smoke": "the fastest useful subset",
    "stack": "PromQL and Alertmanager expectations, evaluated with --stack (real Prometheus/Alertmanager)",
}
DOCS = "see README.md, 'Scenario files'"


class ScenarioFailed(CheckFailed):
    """A scenario's verdict was negative; ``verdict`` holds the evidence.

    The text is redacted when the exception is made, because allure-pytest
    files the exception's own text as the result's message.
    """

    def __init__(self, verdict: Verdict, redactor: Redactor | None = None) -> None:
        self.verdict = verdict
        red = redactor or Redactor.for_verdict(verdict)
        first = verdict.failures[0]
        super().__init__(check=first.check, title=printable(red.text(first.reason)), detail=format_failure(verdict, red))

    def __str__(self) -> str:
        # The tag leads so Allure's categories (probes/_categories.py) can sort by the first failed check.
        return f"[{self.check}] {self.detail}"


class ScenarioBroken(Exception):
    """A scenario could not be judged: a :class:`ProbeError` (bad profile, target unusable) or a callprobe bug.

    Raised in place of the original, ``from None``, so that neither pytest's
    traceback nor allure-pytest's message (the exception's own text) shows a
    frame's locals or an unredacted message. ``detail`` is what the failure
    report shows; ``original`` stays for ``--callprobe-default-traceback``.
    """

    def __init__(self, original: BaseException, redactor: Redactor) -> None:
        self.original = original
        self.redactor = redactor
        if isinstance(original, ProbeError):
            self.detail = summary = printable(redactor.text(clip(str(original), 2000)))
        else:
            described = describe_exception(original, redactor)
            self.detail = (f"callprobe internal error: {described}\n(please report it; frames' locals are hidden and secrets "
                           "redacted, --callprobe-default-traceback shows the whole traceback without locals)")
            summary = described.splitlines()[0]
        super().__init__(summary)


_TARGETS = pytest.StashKey[Targets]()
_NAMES = pytest.StashKey[dict[str, Path]]()
_UNOBSERVED = pytest.StashKey[list[tuple[str, str, str]]]()
_PENDING = pytest.StashKey[dict[int, "concurrent.futures.Future[Outcome]"]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("callprobe_scenario_dirs", "folders (relative to the rootdir) whose YAML files are scenarios",
                  type="linelist", default=["scenarios"])
    parser.addini("callprobe_scenario_suffixes", "file name endings that make a YAML file a scenario wherever it is",
                  type="linelist", default=[".scenario.yaml", ".scenario.yml"])
    group = parser.getgroup("callprobe", "callprobe synthetic calls")
    group.addoption("--target", dest="callprobe_target", metavar="PROFILE", default=os.environ.get("CALLPROBE_TARGET"),
                    help="target profile YAML (default: $CALLPROBE_TARGET, else the embedded reference gateway; "
                         "CALLPROBE_TARGET_URL and friends also work)")
    group.addoption("--gateway-defect", dest="gateway_defect", action="append", default=[], metavar="NAME",
                    help="start the embedded reference gateway with this seeded defect (repeatable)")
    group.addoption("--stack", dest="callprobe_stack", action="store_true",
                    help="run under a real Prometheus + Alertmanager + Pushgateway (Debian packages; README 'Stack mode')")
    group.addoption("--callprobe-seed", dest="callprobe_seed", type=int, default=None, metavar="N",
                    help="override every scenario's seed")
    group.addoption("--callprobe-default-traceback", dest="callprobe_default_traceback", action="store_true",
                    help="show Python tracebacks instead of the scenario failure report")
    group.addoption("--callprobe-strict", dest="callprobe_strict", action="store_true",
                    default=os.environ.get("CALLPROBE_STRICT", "") not in ("", "0"),
                    help="fail a scenario whose expectations the target gives no way to observe "
                         "(no trace, error or Prometheus backend in the profile); CALLPROBE_STRICT=1 also works")
    group.addoption("--callprobe-concurrency", dest="callprobe_concurrency", type=int, default=None, metavar="N",
                    help="scenarios run at once (default: 8 on the embedded target, 1 on a profile's gateway unless it is "
                         "shared: true; --stack runs one at a time); latency-asserting scenarios still send alone")
    group.addoption("--callprobe-timeline-dir", dest="callprobe_timeline_dir", metavar="DIR", default=None,
                    help="write each scenario's call timeline as DIR/<scenario>.timeline.json")


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text} ({DOCS})")
    try:
        config.stash[_TARGETS] = Targets(target=config.getoption("callprobe_target"),
                                         defects=frozenset(config.getoption("gateway_defect") or ()),
                                         stack=config.getoption("callprobe_stack"),
                                         concurrency=config.getoption("callprobe_concurrency"))
    except ProbeError as exc:
        raise pytest.UsageError(printable(str(exc))) from None


def pytest_sessionfinish(session: pytest.Session) -> None:
    from ._allure import allure_active, write_session_files

    if allure_active(session.config):
        targets = session.config.stash.get(_TARGETS, None)
        write_session_files(session.config.option.allure_report_dir, targets.profile if targets else None,
                            session.config.getoption("callprobe_seed"), defects=session.config.getoption("gateway_defect") or ())


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """List what the scenarios asked for but the target gave no way to see, so a green run is not mistaken for it."""
    unobserved = config.stash.get(_UNOBSERVED, [])
    if not unobserved:
        return
    terminalreporter.section("callprobe: expectations not observed")
    targets = config.stash.get(_TARGETS, None)
    red = Redactor(secrets=targets.secret_values() if targets else ())
    by_reason: dict[tuple[str, str], list[str]] = {}
    for scenario, check, reason in unobserved:
        by_reason.setdefault((check, reason), []).append(scenario)
    for (check, reason), scenarios in by_reason.items():
        names = ", ".join(dict.fromkeys(scenarios))
        terminalreporter.write_line(printable(red.text(f"{check}: {reason.removeprefix('not observed: ')} — {names}")))
    if not config.getoption("callprobe_strict"):
        terminalreporter.write_line("these did not fail the run; --callprobe-strict makes them failures")


def pytest_unconfigure(config: pytest.Config) -> None:
    targets = config.stash.get(_TARGETS, None)
    if targets is not None:
        targets.close()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.File | None:
    if is_scenario_file(file_path, parent.config):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


def is_scenario_file(path: Path, config: pytest.Config) -> bool:
    """A YAML file under a configured scenario folder, or named with the scenario suffix, anywhere.

    Not any YAML under any folder called ``scenarios``: a project's own test
    fixtures in such a folder are none of callprobe's business.
    """
    if path.suffix not in (".yaml", ".yml"):
        return False
    if any(path.name.endswith(suffix) for suffix in config.getini("callprobe_scenario_suffixes")):
        return True
    root = config.rootpath
    return any(path.is_relative_to((root / folder).resolve()) for folder in config.getini("callprobe_scenario_dirs"))


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        try:
            scenario = load_scenario(self.path)
        except ProbeError as exc:
            raise self.CollectError(printable(str(exc))) from None
        except Exception as exc:  # a loader bug must still read as one line naming the file
            raise self.CollectError(f"{self.path}: cannot be read as a scenario ({describe_exception(exc).splitlines()[0]})") from None
        first = self.config.stash.setdefault(_NAMES, {}).setdefault(scenario.name, self.path)
        if first != self.path:
            raise self.CollectError(printable(
                f"{self.path}: name: {scenario.name!r} is also the name of {first}; scenario names must be unique "
                "(reports and timeline files are keyed by them)"))
        item = ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)
        for marker in scenario.markers:
            item.add_marker(marker)
        yield item


class ScenarioItem(pytest.Item):
    """One scenario file: all its calls and runs, judged by every applicable check."""

    def __init__(self, *, scenario: Scenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.verdict: Verdict | None = None
        self.timeline_text = ""

    def runtest(self) -> None:
        __tracebackhide__ = True
        targets = self.config.stash[_TARGETS]
        try:
            self._run(targets)
        except ScenarioFailed:
            raise
        except Exception as exc:
            raise ScenarioBroken(exc, Redactor(secrets=targets.secret_values())) from None

    def _run(self, targets: Targets) -> None:
        verdict, profile = self._outcome(targets).result()
        self.config.stash.setdefault(_UNOBSERVED, []).extend((self.name, r.check, r.reason) for r in verdict.unobserved)
        self.verdict = verdict.strict() if self.config.getoption("callprobe_strict") else verdict
        self.user_properties.append(("callprobe_checks", [(r.check, r.passed) for r in self.verdict.results]))
        self.timeline_text = report_verdict(self.config, self.scenario, self.verdict, profile)
        if not self.verdict.passed:
            raise ScenarioFailed(self.verdict, Redactor.for_verdict(self.verdict, profile.secret_values())) from None

    def _outcome(self, targets: Targets) -> concurrent.futures.Future[Outcome]:
        """This scenario's run; the first item to ask sends every scenario after it to the pool too.

        They then run concurrently (as many as the targets allow) while pytest
        reports them in order. Not under xdist, where each worker runs only
        the items it is given.
        """
        pending = self.config.stash.setdefault(_PENDING, {})
        if not pending and targets.concurrency > 1 and not hasattr(self.config, "workerinput"):
            seed = self.config.getoption("callprobe_seed")
            later = [i for i in self.session.items[self.session.items.index(self):] if isinstance(i, ScenarioItem)]
            pending.update({id(item): targets.submit(item.scenario, seed) for item in later})
        future = pending.pop(id(self), None)
        return future or targets.submit(self.scenario, self.config.getoption("callprobe_seed"))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        """The scenario's failure report; never pytest's long traceback, whose frames show their locals (the API key)."""
        exc = excinfo.value
        red = exc.redactor if isinstance(exc, ScenarioBroken) else Redactor(secrets=self.config.stash[_TARGETS].secret_values())
        if self.config.getoption("callprobe_default_traceback"):
            original = exc.original if isinstance(exc, ScenarioBroken) else exc
            full = pytest.ExceptionInfo.from_exception(original).getrepr(showlocals=False, funcargs=False, style="long", chain=True)
            return printable(red.text(str(full)))
        if isinstance(exc, ScenarioFailed):
            return f"{exc}\n{self.timeline_text}" if self.timeline_text else str(exc)
        return exc.detail if isinstance(exc, ScenarioBroken) else describe_exception(exc, red)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario: {self.name}"


class CallprobeRunner:
    """The ``callprobe`` fixture: run a scenario written in Python."""

    def __init__(self, targets: Targets, seed: int | None) -> None:
        self._targets = targets
        self._seed = seed
        self.profile: TargetProfile | None = None

    def run(self, scenario: Scenario | dict[str, Any], *, seed: int | None = None) -> Verdict:
        parsed = scenario if isinstance(scenario, Scenario) else parse_scenario(scenario, source="<python scenario>")
        verdict, self.profile = self._targets.submit(parsed, seed if seed is not None else self._seed).result()
        return verdict

    def assert_passes(self, scenario: Scenario | dict[str, Any], *, seed: int | None = None) -> Verdict:
        __tracebackhide__ = True
        verdict = self.run(scenario, seed=seed)
        if not verdict.passed:
            raise ScenarioFailed(verdict, Redactor.for_verdict(verdict, self.profile.secret_values() if self.profile else ()))
        return verdict


@pytest.fixture
def callprobe(request: pytest.FixtureRequest) -> CallprobeRunner:
    """Run scenarios from Python against the configured (or embedded) target."""
    return CallprobeRunner(request.config.stash[_TARGETS], request.config.getoption("callprobe_seed"))
