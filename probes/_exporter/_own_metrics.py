"""The exporter's own ``/metrics``: how its probes went, and the process (memory, CPU, GC).

On a registry of its own (one per exporter, so tests can run several): probes
by module, target and result, their durations, how many run right now
(including those still cleaning up after their scrape was answered), scrapes
that named an unknown module or target, probes that finished after their
answer, and bookings cancelled or left behind.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

__all__ = ["RESULTS", "OwnMetrics"]

RESULTS = ("success", "failure", "timeout", "error", "busy")
_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class OwnMetrics:
    """The exporter's own series (``callprobe_exporter_*``) and the process collectors."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.probes = Counter("callprobe_exporter_probes", "Probes answered, by module, target and result "
                              "(success, failure, timeout: answered at the deadline, error: harness error, busy: no slot)",
                              ["module", "target", "result"], registry=r)
        self.duration = Histogram("callprobe_exporter_probe_duration_seconds", "Time from a /probe request to its answer",
                                  ["module", "target"], buckets=_BUCKETS, registry=r)
        self.in_flight = Gauge("callprobe_exporter_probes_in_flight", "Probes running now, cleanup after the answer included",
                               registry=r)
        self.unknown = Counter("callprobe_exporter_unknown_requests", "Requests naming an unknown module or target, or refused",
                               ["kind"], registry=r)
        self.late = Counter("callprobe_exporter_late_probes", "Probes that finished after their scrape was answered", registry=r)
        self.cancelled = Counter("callprobe_exporter_bookings_cancelled", "Bookings the probes made and cancelled", registry=r)
        self.left = Counter("callprobe_exporter_bookings_left", "Bookings the probes made and could not cancel (janitor's work)",
                            registry=r)
