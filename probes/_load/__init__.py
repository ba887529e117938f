"""Load tests on Locust: whole synthetic calls, an open workload, an SLA gate, telemetry completeness.

This package's own modules never import Locust, except those named
``_locust*`` (Locust's gevent monkey-patching must stay out of the pytest
process and probes' asyncio code); Locust loads those through a locustfile
(``locustfiles/calls.py``, or ``probes/_load/_locustfile.py`` for
``callprobe load``).
"""

from __future__ import annotations

from ._arrivals import Arrivals, RateProfile
from ._gate import GateResult, Threshold, evaluate
from ._histograms import LatencyBook
from ._ledger import CallRecord, Tally
from ._options import LoadOptions
from ._report import LoadReport

__all__ = ["Arrivals", "CallRecord", "GateResult", "LatencyBook", "LoadOptions", "LoadReport", "RateProfile", "Tally",
           "Threshold", "evaluate"]
