"""Scenario files from a hostile-input corpus: one ScenarioError naming file, line and field; never a traceback or a hang.

Each class once ended in a Python traceback (non-UTF-8 bytes, ``.nan``, a YAML
date in ``args``, deep nesting), a hang with gigabytes of memory (an alias
bomb, a huge ``at``) or silence (a negative ``send_at`` or alert count, an
empty name, two scenarios with one name, two equal keys). The same files go
through the library, the ``callprobe plan`` command and the pytest plugin.
"""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from probes import ScenarioError, load_scenario, parse_scenario
from probes._cli import main
from probes._plan import build_plan
from probes._yaml import MAX_DEPTH, MAX_FILE_BYTES

pytest_plugins = ["pytester"]
INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
HEAD = b"name: hostile\nsteps:\n"


def _bomb(levels: int, where: str) -> bytes:
    """A "billion laughs": each level is nine aliases of the one before (9**levels strings)."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    body = "\n".join("      " + line for line in lines)
    return HEAD + f"  - function: check_availability\n    {where}:\n".encode() + body.encode() + b"\n"


# (file bytes, line, field, what the message says)
CORPUS: dict[str, tuple[bytes, int, str | None, str]] = {
    "binary": (HEAD + b"  - {event: call_started}\n\xff\xfe\x00\x01\x89PNG", 4, None, "not UTF-8 text (byte 0xff)"),
    "latin-1": (b"name: caf\xe9\nsteps: [{event: call_started}]\n", 1, None, "not UTF-8 text (byte 0xe9)"),
    "nul byte": (b"name: a\x00b\nsteps: [{event: call_started}]\n", 1, None, "control character U+0000"),
    "at .nan": (HEAD + b"  - {event: call_started, at: .nan}\n", 3, "steps[0].at", "nan is not a finite number"),
    "at .inf": (HEAD + b"  - {event: call_started}\n  - {event: call_ended, at: .inf}\n", 4, "steps[1].at",
                "inf is not a finite number"),
    "at -.inf": (HEAD + b"  - {event: call_started, at: -.inf}\n", 3, "steps[0].at", "-inf is not a finite number"),
    "huge at": (HEAD + b"  - {event: call_started}\n  - {event: call_ended, at: 1.0e+12}\n", 4, "steps[1].at",
                "less than or equal to 86400"),
    "replay of hours": (HEAD + b"  - {event: call_started, at: 0}\n  - {event: call_ended, at: 4000}\ntime_scale: 1\n", 5,
                        "time_scale", "replaying takes 4,000 s"),
    "send_at .nan": (HEAD + b"  - {event: call_started, send_at: .nan}\n", 3, "steps[0].send_at", "not a finite number"),
    "negative send_at": (HEAD + b"  - {event: call_started, send_at: -5}\n", 3, "steps[0].send_at",
                         "greater than or equal to 0; got -5"),
    "negative alert count": (HEAD + b"  - {event: call_started}\nexpect:\n  alerts: {count: -1}\n", 5, "expect.alerts.count",
                             "greater than or equal to 0; got -1"),
    "negative journal count": (HEAD + b"  - {event: call_started}\nexpect:\n  calcom:\n    - {endpoint: slots, min_count: -2}\n",
                               6, "expect.calcom[0].min_count", "greater than or equal to 0"),
    "delta .nan": (HEAD + b"  - {event: call_started}\nexpect:\n  metrics:\n    - {metric: bookings, delta: .nan}\n", 6,
                   "expect.metrics[0].delta", "nan is not a finite number"),
    "empty name": (b"name: ''\nsteps: [{event: call_started}]\n", 1, "name", "a scenario's name is empty"),
    "blank name": (b"name: '   '\nsteps: [{event: call_started}]\n", 1, "name", "a scenario's name is empty"),
    "ANSI in name": (b"name: \"\\e[2Jpwned\"\nsteps: [{event: call_started}]\n", 1, "name", "without control characters"),
    "function path": (HEAD + b"  - {function: ../../admin}\n", 3, "steps[0].function", "1 to 64 of a-z"),
    "date in args": (HEAD + b"  - function: check_availability\n    args: {when: !!binary aGk=}\n", 4,
                     "steps[0].args.when", "binary data (!!binary) is not a JSON value"),
    "set in args": (HEAD + b"  - function: check_availability\n    args: {s: !!set {a: null}}\n", 4, "steps[0].args.s",
                    "a set (!!set) is not a JSON value"),
    "on as a key": (HEAD + b"  - function: check_availability\n    args:\n      on: 1\n", 4, "steps[0].args",
                    "key True is not a string (quote it)"),
    "nan in args": (HEAD + b"  - function: check_availability\n    args:\n      n: .nan\n", 5, "steps[0].args.n",
                    "nan is not a finite number"),
    "deep nesting": (HEAD + b"  - function: check_availability\n    args: {x: " + b"[" * 100_000 + b"]" * 100_000 + b"}\n", 4, None,
                     f"nested deeper than {MAX_DEPTH} levels"),
    "alias bomb in args": (_bomb(9, "args"), 10, None, "more than 100,000 values once aliases are expanded"),
    "alias bomb, twelve levels": (_bomb(12, "args").replace(b"name: hostile\n", b"name: hostile\ncalls: 1\n"), 11, None,
                                  "more than 100,000 values"),
    "recursive alias": (HEAD + b"  - &s {function: check_availability, args: {again: *s}}\n", 3, None,
                        "an alias refers to the value that contains it"),
    "two equal keys": (b"name: first\nname: second\nsteps: [{event: call_started}]\n", 2, None,
                       "key 'name' appears twice in one mapping"),
    "another document": (b"name: a\nsteps: [{event: call_started}]\n---\nname: b\n", 3, None, "but found another document"),
    "empty file": (b"", 1, None, "the file is empty"),
    "a list": (b"- name: a\n", 1, None, "expected a mapping at the top level, got list"),
    "http without slash": (HEAD + b"  - {http: api/health, method: GET}\n", 3, "steps[0].http",
                           "is neither a path (starting with /) nor a path role"),
    "missing earlier step": (HEAD + b"  - {event: call_started}\n  - function: book_appointment\n"
                             b"    args_from: {start: 'nope.slots[0]'}\n", 5, "steps[1].args_from.start",
                             "no earlier step is named 'nope'"),
}


@pytest.mark.parametrize("case", list(CORPUS), ids=str)
def test_each_hostile_file_is_one_error_naming_file_line_and_field(tmp_path: Path, case: str) -> None:
    raw, line, field, message = CORPUS[case]
    path = tmp_path / "hostile.yaml"
    path.write_bytes(raw)
    started = time.monotonic()
    tracemalloc.start()
    try:
        with pytest.raises(ScenarioError) as err:
            load_scenario(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    text = str(err.value)
    where = f"{path}:{line}: " + (f"{field}: " if field else "")
    assert text.startswith(where) and message in text, text
    assert len(text) < 400 and "\n" not in text and "\x1b" not in text, text
    assert err.value.line == line and err.value.field == field
    assert peak < 64 * 1024 * 1024, f"{case}: {peak / 1e6:.0f} MB"
    assert time.monotonic() - started < 15, case  # a hang or a blow-up took minutes; 0.2 s when idle


def test_a_yaml_date_is_the_text_that_was_written(tmp_path: Path) -> None:
    """YAML 1.1 reads 2026-03-02 as a date, which no JSON body carries; the author meant the text."""
    path = tmp_path / "date.yaml"
    path.write_text("name: dated\nsteps:\n  - function: check_availability\n    args: {date: 2026-03-02, at: 2026-03-02 10:00:00}\n")
    scenario = load_scenario(path)
    assert scenario.steps[0].args == {"date": "2026-03-02", "at": "2026-03-02 10:00:00"}
    body = build_plan(scenario, api_key="key_test", seed=1).requests()[0].body
    assert '"date":"2026-03-02"' in body


def test_a_large_file_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "large.yaml"
    path.write_bytes(b"name: large\ndescription: '" + b"x" * 5_000_000 + b"'\nsteps: [{event: call_started, at: oops}]\n")
    with pytest.raises(ScenarioError, match=f"larger than {MAX_FILE_BYTES:,} bytes"):
        load_scenario(path)


def test_an_error_quotes_at_most_a_line_of_the_bad_value(tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    path.write_text("name: long\nsteps: [{event: call_started, at: '" + "9x" * 400_000 + "'}]\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    text = str(err.value)
    assert text.startswith(f"{path}:2: steps[0].at: Input should be a valid number") and len(text) < 300, text[:400]
    assert "(799,9" in text and "more characters)" in text


def test_python_scenarios_get_the_same_checks_without_lines() -> None:
    bad = {"name": "py", "steps": [{"function": "check_availability", "args": {"when": float("nan")}}]}
    with pytest.raises(ScenarioError, match=r"^<scenario>: steps\[0\]\.args\.when: nan is not a finite number$"):
        parse_scenario(bad)
    nested: list[object] = []
    node = nested
    for _ in range(MAX_DEPTH + 5):
        node.append([])
        node = node[0]  # type: ignore[assignment]
    with pytest.raises(ScenarioError, match=f"nested deeper than {MAX_DEPTH} levels"):
        parse_scenario({"name": "py", "steps": [{"function": "f", "args": {"x": nested}}]})


@pytest.mark.parametrize("case", ["binary", "alias bomb in args", "at .nan", "ANSI in name"], ids=str)
def test_plan_command_prints_one_line_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_bytes(CORPUS[case][0])
    assert main(["plan", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"callprobe: error: {path}:{CORPUS[case][1]}: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "\x1b" not in err


def test_collection_reports_each_hostile_file_as_one_error(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    folder = pytester.mkdir("scenarios")
    for i, case in enumerate(("binary", "alias bomb in args", "deep nesting", "at .inf", "ANSI in name")):
        (folder / f"bad{i}.yaml").write_bytes(CORPUS[case][0])
    result = pytester.runpytest("scenarios", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=5)
    out = result.stdout.str()
    assert "Traceback" not in out and "\x1b" not in out and "INTERNALERROR" not in out
    result.stdout.fnmatch_lines(["*bad0.yaml:4: not UTF-8 text*", "*bad3.yaml:4: steps[[]1[]].at: inf is not a finite number*",
                                 r"*bad4.yaml:1: name: *\x1b[[]2Jpwned*"], consecutive=False)


def test_two_scenarios_with_one_name_are_a_collection_error_naming_both(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    folder = pytester.mkdir("scenarios")
    (folder / "a.yaml").write_text("name: same\nsteps: [{event: call_started}]\n")
    sub = folder / "more"
    sub.mkdir()
    (sub / "b.yaml").write_text("name: same\nsteps: [{event: call_started}]\n")
    result = pytester.runpytest("scenarios", "--collect-only", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*more/b.yaml: name: 'same' is also the name of *scenarios/a.yaml; scenario names must be unique*"])
