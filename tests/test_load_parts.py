"""The parts of a load run that need no Locust: arrivals, histograms, the gate, options, the report.

None of these imports Locust (whose import monkey-patches the process with
gevent); the last test proves the pytest process and ``callprobe`` itself stay
free of it.
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
from collections import Counter

import pytest

from probes._errors import ConfigError
from probes._exitcodes import EXIT_FAILED, EXIT_HARNESS, EXIT_OK, EXIT_USAGE
from probes._load import Arrivals, LatencyBook, LoadOptions, RateProfile, Tally, evaluate
from probes._load._gate import needed_samples
from probes._load._ledger import CallRecord, RequestRecord
from probes._load._options import add_options, seconds
from probes._load._report import LoadReport
from probes._scenario import parse_scenario

SCENARIO = parse_scenario({
    "name": "s",
    "steps": [{"event": "call_started", "expect": {"within_ms": 500}}, {"function": "check_availability", "at": 1}],
    "expect": {"latency": [{"kind": "function", "percentile": 95, "max_ms": 300}]},
    "load": {"steps": {"call": {"p95_ms": 1000}}},
})


def _times(arrivals: Arrivals) -> list[float]:
    out = []
    while (t := arrivals.next()) is not None:
        out.append(t)
    return out


def test_constant_arrivals_come_at_the_rate_whatever_else_happens() -> None:
    times = _times(Arrivals(RateProfile("constant", 20, 10), seed=1))
    assert len(times) in (199, 200)
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(times)}
    assert gaps == {0.05}


def test_streams_share_the_rate_and_poisson_keeps_it_on_average() -> None:
    per_stream = [len(_times(Arrivals(RateProfile("constant", 20, 10), streams=4, seed=s))) for s in range(4)]
    assert 196 <= sum(per_stream) <= 200
    poisson = len(_times(Arrivals(RateProfile("constant", 50, 20), poisson=True, seed=7)))
    assert abs(poisson - 1000) < 100  # 3 standard deviations of a Poisson count of 1000


@pytest.mark.parametrize(("kind", "t", "rate"), [("ramp", 5, 10), ("ramp", 0, 0), ("step", 0.5, 4), ("step", 9.9, 20),
                                                 ("spike", 5, 20), ("spike", 1, 5), ("soak", 0.5, 10), ("soak", 8, 20),
                                                 ("constant", 10, 0)])
def test_shapes_in_calls_per_second(kind: str, t: float, rate: float) -> None:
    assert RateProfile(kind, 20, 10).rate_at(t) == pytest.approx(rate)


def test_a_ramp_asks_for_half_the_calls_of_a_constant_rate() -> None:
    assert RateProfile("ramp", 20, 10).intended_calls() == pytest.approx(100, rel=1e-3)
    assert len(_times(Arrivals(RateProfile("ramp", 20, 10), seed=3))) == pytest.approx(100, abs=2)


def test_histograms_merged_across_workers_equal_one_histogram_of_everything() -> None:
    one, a, b = LatencyBook(), LatencyBook(), LatencyBook()
    for i in range(1, 2001):
        one.record(["x"], i * 0.731, i * 0.5)
        (a if i % 3 else b).record(["x"], i * 0.731, i * 0.5)
    merged = LatencyBook()
    merged.merge(a.encode())
    merged.merge(b.encode())
    assert merged.percentiles("x") == one.percentiles("x")
    p = merged.percentiles("x")
    assert p.count == 2000 and p.p99 == pytest.approx(0.99 * 2000 * 0.731, rel=1e-3)  # three significant figures


def _tally(**counts: int) -> Tally:
    t = Tally()
    for k, v in counts.items():
        setattr(t, k, v)
    return t


def _book(n: int, ms: float) -> LatencyBook:
    book = LatencyBook()
    for _ in range(n):
        book.record(["webhook call_started", "function check_availability", "all function", "all webhook", "call s"], ms, ms)
    return book


def _gate(tally: Tally, book: LatencyBook, telemetry: dict[str, object] | None = None) -> int:
    complete = telemetry or {"calls_judged": 5, "calls_complete": 5, "run": [{"check": "metric-delta", "passed": True}]}
    return evaluate(SCENARIO, tally, book, call_entry="call s", open_model=True, telemetry=complete).exit_code


def test_an_empty_run_exits_2_never_0() -> None:
    assert _gate(Tally(), LatencyBook(), {"calls_judged": 0, "calls_complete": 0, "run": []}) == EXIT_USAGE


def test_every_threshold_needs_its_samples() -> None:
    assert needed_samples(95) == 20 and needed_samples(99) == 100 and needed_samples(50) == 2
    counts = {"intended": 150, "started": 150, "completed": 150, "requests": 300}
    assert _gate(_tally(**counts), _book(50, 10)) == EXIT_USAGE  # p99 of 50 samples is no data
    assert _gate(_tally(**counts), _book(150, 10)) == EXIT_OK


def test_a_breach_wins_over_missing_data_and_a_harness_error_over_everything() -> None:
    counts = {"intended": 150, "started": 150, "completed": 150, "requests": 300}
    assert _gate(_tally(**counts), _book(150, 900)) == EXIT_FAILED  # the 500 ms SLA
    assert _gate(_tally(**counts, failures=1), _book(150, 10)) == EXIT_FAILED  # max_error_ratio 0
    assert _gate(_tally(**{**counts, "intended": 300}), _book(150, 10)) == EXIT_FAILED  # half the intended starts
    incomplete = {"calls_judged": 5, "calls_complete": 4, "run": []}
    assert _gate(_tally(**counts), _book(150, 10), incomplete) == EXIT_FAILED
    broken = _tally(**counts)
    broken.harness_errors = ["worker w1 sent no final report"]
    assert _gate(broken, _book(150, 900)) == EXIT_HARNESS


def test_a_load_step_that_names_no_step_is_a_configuration_error() -> None:
    bad = SCENARIO.model_copy(update={"load": SCENARIO.load.model_copy(update={"steps": {"book": SCENARIO.load.steps["call"]}})})
    with pytest.raises(ConfigError, match=r"load\.steps\.book: no step is named 'book'"):
        evaluate(bad, Tally(), LatencyBook(), call_entry="call s", open_model=True, telemetry=None)


def test_tallies_add_up_exactly() -> None:
    a, b = _tally(started=3, completed=2, requests=10), _tally(started=4, completed=4, requests=12)
    a.processed, b.processed = Counter({"call_started": 2}), Counter({"call_started": 4, "call_ended": 1})
    b.calls = [CallRecord("call_1", 1.0, [RequestRecord(0, 1, 204, "c-1", True, 1.0)], [], True)]
    merged = Tally.from_json(a.to_json())
    merged.merge(Tally.from_json(b.to_json()))
    assert (merged.started, merged.completed, merged.requests) == (7, 6, 22)
    assert merged.processed == Counter({"call_started": 6, "call_ended": 1})
    assert merged.calls[0].ok and merged.calls[0].requests[0].correlation_id == "c-1"


def test_options_parse_once_for_both_fronts() -> None:
    parser = argparse.ArgumentParser()
    add_options(parser)
    ns = parser.parse_args(["--scenario", "x.yaml", "--rate", "2.5", "--duration", "2m", "--arrival", "poisson"])
    opts = LoadOptions.from_namespace(ns)
    assert (opts.rate, opts.duration, opts.arrival) == (2.5, 120.0, "poisson")
    again = LoadOptions.from_namespace(parser.parse_args(opts.to_argv()))
    assert again == opts
    assert seconds("500ms") == 0.5 and seconds("1.5h") == 5400
    with pytest.raises(ValueError):
        seconds("nan")
    with pytest.raises(ConfigError, match="--scenario is required"):
        LoadOptions.from_namespace(parser.parse_args([]))
    web = argparse.Namespace(**{**vars(ns), "rate": "abc"})  # the web UI hands values over as text
    with pytest.raises(ConfigError, match="--rate"):
        LoadOptions.from_namespace(web)


def test_the_report_names_every_step_with_corrected_and_raw_percentiles() -> None:
    tally = _tally(intended=150, started=150, completed=150, requests=300)
    book = _book(150, 10)
    gate = evaluate(SCENARIO, tally, book, call_entry="call s", open_model=True,
                    telemetry={"calls_judged": 150, "calls_complete": 150, "run": []})
    text = LoadReport("title", tally, book, gate, {"calls_judged": 150, "calls_complete": 150, "run": []}, "call s", 10).text()
    assert "corrected (ms)" in text and "raw (ms)" in text
    assert "function check_availability" in text and text.index("webhook call_started") < text.index("call s ")
    assert "telemetry complete for 150/150 calls" in text and text.rstrip().endswith("verdict: PASS (exit 0)")


def test_callprobe_and_the_load_package_never_import_locust() -> None:
    """Locust's import monkey-patches a process: only modules named _locust* may import it, and only inside Locust."""
    code = ("import sys, probes._cli, probes._load, probes._load._cli, probes._load._telemetry, probes._load._completeness;"
            "probes._cli._parser();"
            "bad = [m for m in ('locust', 'gevent', 'geventhttpclient') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
