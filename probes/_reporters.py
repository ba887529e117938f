"""What the pytest plugin does with each verdict besides passing or failing the item.

Kept out of ``plugin.py`` so the plugin stays a thin front: build the call
timeline once (redacted with the profile's own secret values), attach the
Allure content when allure-pytest is writing results, write the timeline JSON
when ``--callprobe-timeline-dir`` is set, and hand back the compact text the
failure report appends.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ._evidence import Verdict
from ._profile import TargetProfile
from ._redact import Redactor
from ._timeline import build_timelines, timeline_to_json, timeline_to_text

if TYPE_CHECKING:
    import pytest

    from ._scenario import Scenario

__all__ = ["report_verdict", "timeline_file_name"]


def timeline_file_name(scenario: str) -> str:
    """``<scenario>.timeline.json``; a name that needs changing to be a file name gets a hash, so two never share a file."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", scenario).strip(".") or "_"
    if safe != scenario:
        safe += "-" + hashlib.sha256(scenario.encode("utf-8")).hexdigest()[:8]
    return f"{safe}.timeline.json"


def report_verdict(config: pytest.Config, scenario: Scenario, verdict: Verdict, profile: TargetProfile) -> str:
    """Attach Allure content and write the timeline JSON; return the compact timeline text."""
    red = Redactor.for_verdict(verdict, profile.secret_values())
    timelines = build_timelines(verdict, red, profile.contract)
    folder = config.getoption("callprobe_timeline_dir", None)
    if folder:
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        text = json.dumps(timeline_to_json(timelines), indent=2, default=str)
        (path / timeline_file_name(scenario.name)).write_text(text, encoding="utf-8")
    from ._allure import allure_active

    if allure_active(config):
        from ._allure import write_allure

        write_allure(scenario, verdict, timelines, red)
    return timeline_to_text(timelines)
