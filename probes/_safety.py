"""Which scenarios may run against which target: the production guard every scheduled front applies.

A production target is shared with real callers: a scenario that scripts
Cal.com outages, sends forged signatures by the dozen or books ten slots at
once has no business there, however useful it is in CI. So a profile says
``production: true`` and a scenario says ``production: safe``; ``callprobe
run`` and the exporter refuse every other pairing, and refuse a scenario that
needs the Cal.com mock's scripted faults against a target that has no mock
(it would run, but against a healthy Cal.com, and prove nothing). Each
refusal is one line naming the scenario, the target and why.
"""

from __future__ import annotations

from ._profile import TargetProfile
from ._scenario import Scenario

__all__ = ["refusal"]


def refusal(scenario: Scenario, profile: TargetProfile | None) -> str | None:
    """Why ``scenario`` must not run against ``profile`` (None: the embedded target), or None when it may."""
    if profile is None:
        return None  # the embedded target is a reference gateway with its own Cal.com mock
    where = f"scenario {scenario.name}: refused on target {profile.name}"
    if profile.production and scenario.production != "safe":
        return (f"{where}: the target is marked production: true and the scenario is not marked production: safe "
                "(it may script faults, page someone or book more than it should on a target real callers share)")
    if scenario.calcom.rules and not profile.calcom_mock_url:
        faults = ", ".join(sorted({rule.fault.value for rule in scenario.calcom.rules}))
        return (f"{where}: the scenario scripts Cal.com faults ({faults}) and the target profile names no Cal.com mock "
                "(calcom_mock_url), so the faults could not happen")
    return None
