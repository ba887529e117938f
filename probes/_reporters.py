"""What the pytest plugin does with each verdict besides passing or failing the item.

Kept out of ``plugin.py`` so the plugin stays a thin front: build the call
timeline once (redacted with the profile's own secret values), attach the
Allure content when allure-pytest is writing results, write the timeline JSON
when ``--callprobe-timeline-dir`` is set, and hand back the compact text the
failure report appends.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ._errors import ProbeError
from ._evidence import Verdict
from ._profile import TargetProfile
from ._redact import Redactor
from ._timeline import build_timelines, timeline_to_json, timeline_to_text

if TYPE_CHECKING:
    import pytest

    from ._scenario import Scenario

__all__ = ["profile_secrets", "report_verdict"]


def profile_secrets(profile: TargetProfile) -> list[str]:
    """The profile's resolved secret values, to be masked wherever they appear."""
    try:
        return profile.secrets().values()
    except ProbeError:
        return []


def report_verdict(config: pytest.Config, scenario: Scenario, verdict: Verdict, profile: TargetProfile) -> str:
    """Attach Allure content and write the timeline JSON; return the compact timeline text."""
    red = Redactor.for_verdict(verdict, profile_secrets(profile))
    timelines = build_timelines(verdict, red, profile.contract)
    folder = config.getoption("callprobe_timeline_dir", None)
    if folder:
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", scenario.name)
        (path / f"{name}.timeline.json").write_text(json.dumps(timeline_to_json(timelines), indent=2, default=str), encoding="utf-8")
    from ._allure import allure_active

    if allure_active(config):
        from ._allure import write_allure

        write_allure(scenario, verdict, timelines, red)
    return timeline_to_text(timelines)
