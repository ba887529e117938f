"""Whole synthetic calls against a voice-AI gateway, on Locust.

    locust -f locustfiles/calls.py --headless --scenario happy-path-booking --target staging.yaml --rate 20 --duration 60s

Open model (default): ``--rate`` calls start per second whatever the gateway's
answers take; ``--model closed`` runs Locust's classic users instead. The run
ends with callprobe's SLA gate and its exit code (0 pass, 1 breach, 2 no data
or bad configuration, 3 harness error). ``callprobe load`` is a front over
this same file. See README.md, "Load tests".
"""

from probes._load._locustfile import CallLoadShape, ClosedCallUser, OpenCallUser

__all__ = ["CallLoadShape", "ClosedCallUser", "OpenCallUser"]
