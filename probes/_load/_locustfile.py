"""The locustfile of a load run, inside the package (``callprobe load`` hands it to Locust; locustfiles/ re-exports it).

Locust loads this file by path, so it imports with absolute names. Importing
it registers the run's event hooks (:mod:`probes._load._locust_run`) once.
"""

from probes._load._locust_run import CallLoadShape
from probes._load._locust_users import ClosedCallUser, OpenCallUser

__all__ = ["CallLoadShape", "ClosedCallUser", "OpenCallUser"]
