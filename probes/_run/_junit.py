"""``callprobe run --junitxml FILE``: the run as JUnit XML, for CI systems that show test results.

One ``<testcase>`` per scenario (classname ``callprobe.<target>``): a failed
verdict is a ``<failure>`` whose message is the first failed check and whose
text is the failure report and timeline; a probe that could not finish is an
``<error>``. With retries, the attempts and the first attempt's outcome are
``<properties>``. Written with the standard library's ElementTree.
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from .._errors import ConfigError
from ._session import Outcome

__all__ = ["write_junit"]


def _case(outcome: Outcome, target: str) -> ET.Element:
    case = ET.Element("testcase", classname=f"callprobe.{target}", name=outcome.scenario.name, time=f"{outcome.seconds:.3f}")
    if outcome.attempts > 1:
        props = ET.SubElement(case, "properties")
        ET.SubElement(props, "property", name="attempts", value=str(outcome.attempts))
        first = outcome.first
        summary = "passed" if first is None or first.passed else "failed: " + ", ".join(sorted(first.failed_checks()))
        ET.SubElement(props, "property", name="first_attempt", value=summary)
    verdict = outcome.verdict
    if outcome.error is not None:
        ET.SubElement(case, "error", message=outcome.error, type="callprobe.error").text = outcome.report
    elif verdict is not None and not verdict.passed:
        first_failure = verdict.failures[0]
        ET.SubElement(case, "failure", message=f"[{first_failure.check}] {first_failure.reason}",
                      type=first_failure.check).text = outcome.report
    if outcome.report:
        ET.SubElement(case, "system-out").text = outcome.report
    return case


def write_junit(path: str | Path, outcomes: Sequence[Outcome], target: str) -> None:
    """Write ``outcomes`` as one JUnit ``<testsuite>`` to ``path``."""
    failures = sum(1 for o in outcomes if o.error is None and o.verdict is not None and not o.verdict.passed)
    errors = sum(1 for o in outcomes if o.error is not None)
    suite = ET.Element("testsuite", name="callprobe run", tests=str(len(outcomes)), failures=str(failures), errors=str(errors),
                       skipped="0", time=f"{sum(o.seconds for o in outcomes):.3f}",
                       timestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"), hostname=socket.gethostname())
    for outcome in outcomes:
        suite.append(_case(outcome, target))
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    try:
        ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    except OSError as exc:
        raise ConfigError(f"--junitxml: cannot write {path} ({exc.strerror or exc})") from None
