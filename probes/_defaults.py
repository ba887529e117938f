"""Defaults of the embedded target, shared by the harness and the reference gateway.

These keys are deliberately public demo values: they protect nothing but the
embedded loopback target. Real targets take theirs from the environment
(``RETELL_API_KEY``, ``CALLPROBE_METRICS_TOKEN``), and no output ever shows them.
"""

from __future__ import annotations

__all__ = ["DEMO_CALCOM_API_KEY", "DEMO_METRICS_TOKEN", "DEMO_RETELL_API_KEY", "ENV_METRICS_TOKEN", "ENV_RETELL_API_KEY"]

DEMO_RETELL_API_KEY = "key_callprobe_demo_not_a_secret"
DEMO_METRICS_TOKEN = "callprobe-demo-metrics-token"
DEMO_CALCOM_API_KEY = "cal_test_callprobe_demo"
ENV_RETELL_API_KEY = "RETELL_API_KEY"
ENV_METRICS_TOKEN = "CALLPROBE_METRICS_TOKEN"
