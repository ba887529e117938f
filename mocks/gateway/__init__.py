"""The reference gateway: the embedded default target and the executable observability contract.

``create_app(GatewayConfig(...))`` returns a Starlette app that answers Retell
webhooks and custom functions, books through Cal.com v2, and exposes metrics,
JSON logs and Slack alerts as ARCHITECTURE.md's target contract says. Seeded
defects (:data:`DEFECTS`) break one promise each, to prove checks can fail.
"""

from __future__ import annotations

from ._alerts import Alert, AlertPolicy, build_slack_payload
from ._app import create_app
from ._config import GatewayConfig
from ._defects import DEFECTS, Defect, validate_defects
from ._gateway import Gateway

__all__ = ["DEFECTS", "Alert", "AlertPolicy", "Defect", "Gateway", "GatewayConfig", "build_slack_payload", "create_app", "validate_defects"]
