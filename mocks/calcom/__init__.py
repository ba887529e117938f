"""Cal.com API mock: a scripted, journaled stand-in for ``api.cal.com``.

Run it as an ASGI app (:func:`create_app`, admin API under ``/__admin``) or
in-process for httpx clients (:func:`calcom_router`); both serve one
:class:`CalcomMock`. Behaviour, texts and shapes follow
``docs/research/calcom.md``; scripts and journal entries use the models
of :mod:`probes._calcom`.
"""

from __future__ import annotations

from mocks.calcom._app import create_app
from mocks.calcom._http import ApiRequest, ApiResponse
from mocks.calcom._mock import CalcomMock, Outcome
from mocks.calcom._respx import calcom_router
from mocks.calcom._state import DEFAULT_EVENT_TYPES, HOST, EventTypeConfig, Host

__all__ = [
    "DEFAULT_EVENT_TYPES",
    "HOST",
    "ApiRequest",
    "ApiResponse",
    "CalcomMock",
    "EventTypeConfig",
    "Host",
    "Outcome",
    "calcom_router",
    "create_app",
]
