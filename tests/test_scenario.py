"""Scenario files: valid ones load, bad ones get one message naming file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from probes import ScenarioError, load_scenario, parse_scenario

MINIMAL = {"name": "m", "steps": [{"event": "call_started"}]}


def test_every_catalogue_scenario_loads() -> None:
    files = sorted(Path("scenarios").glob("*.yaml"))
    assert len(files) >= 12
    names = [load_scenario(f).name for f in files]
    assert len(set(names)) == len(names), "scenario names are unique"


def test_minimal_defaults() -> None:
    s = parse_scenario(MINIMAL)
    assert s.calls == 1 and s.caller.locale == "en_US" and s.expect.pii_free_logs


@pytest.mark.parametrize(
    ("patch", "field", "message"),
    [
        ({"steps": [{"event": "call_startd"}]}, "steps[0].event", "Input should be 'call_inbound'"),
        ({"steps": [{"event": "call_started", "function": "x"}]}, "steps[0]", "exactly one of 'event', 'function' or 'http'"),
        ({"stpes": []}, "stpes", "Extra inputs are not permitted"),
        ({"calls": 0}, "calls", "greater than or equal to 1"),
        ({"caller": {"locale": "fr_FR"}}, "caller.locale", "Input should be 'en_US' or 'de_DE'; got 'fr_FR'"),
        ({"expect": {"metrics": [{"name": "x"}]}}, "expect.metrics[0]", "needs delta, count_delta or bucket_delta"),
        ({"calcom": {"rules": [{"fault": "explode"}]}}, "calcom.rules[0].fault", "Input should be"),
    ],
)
def test_bad_fields_are_named(patch: dict, field: str, message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario({**MINIMAL, **patch}, source="scenarios/x.yaml")
    text = str(err.value)
    assert text.startswith(f"scenarios/x.yaml: {field}: "), text
    assert message in text


def test_args_from_must_name_an_earlier_step() -> None:
    data = {"name": "m", "steps": [{"function": "book_appointment", "args_from": {"start": "check_availability.slots[0]"}}]}
    with pytest.raises(ScenarioError, match=r"steps\[0\]\.args_from\.start: no earlier step is named 'check_availability'"):
        parse_scenario(data)


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsteps:\n  - event: [call_started\n")
    expected = r"bad\.yaml:4: not valid YAML: expected ',' or '\]', but got '<stream end>' \(a flow sequence from line 3\)"
    with pytest.raises(ScenarioError, match=expected):
        load_scenario(bad)


def test_missing_file() -> None:
    with pytest.raises(ScenarioError, match=r"nope\.yaml: cannot read the file"):
        load_scenario("nope.yaml")
