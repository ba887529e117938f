"""Stack mode for a pytest session: one real stack, pointed at whatever target the items use.

A front (it imports ``mocks`` for the Alertmanager webhook receiver). The
first item starts Prometheus, Alertmanager, Pushgateway and the receiver;
later items reuse them, and a different target only reloads Prometheus'
config. The profile handed to the probe gains the stack's URLs, which is
what switches the Prometheus-backed checks on.
"""

from __future__ import annotations

from mocks._serve import RunningServer, serve_in_thread
from mocks.sinks import create_alertmanager_receiver_app

from ._errors import ConfigError, ProbeError
from ._evidence import Verdict
from ._profile import TargetProfile
from ._pushgateway import PushKey, push_verdict
from ._stack import ScrapeTarget, Stack

__all__ = ["StackSession"]


class StackSession:
    """The session's stack and receiver; :meth:`attach` a profile to run it under the stack."""

    def __init__(self) -> None:
        self.stack: Stack | None = None
        self.receiver: RunningServer | None = None
        self._failed: ConfigError | None = None

    def attach(self, profile: TargetProfile) -> TargetProfile:
        """``profile`` plus the stack's URLs; starts the stack on first use (a failure repeats for every item)."""
        if self._failed is not None:
            raise self._failed
        url = profile.resolved_metrics_url
        if not url:
            raise ConfigError(f"target {profile.name!r}: stack mode needs the target's metrics URL (metrics_url is null)")
        target = ScrapeTarget.from_url(url, profile.secrets().metrics_token)
        if self.stack is None:
            try:
                self.receiver = serve_in_thread(create_alertmanager_receiver_app())
                self.stack = Stack(receiver_url=f"{self.receiver.url}/alertmanager", target=target, contract=profile.contract).start()
            except ConfigError as exc:
                self._failed = exc
                self.close()
                raise
        else:
            self.stack.set_target(target, profile.contract)
        assert self.receiver is not None
        return profile.model_copy(update={
            "prometheus_url": self.stack.prometheus_url,
            "alertmanager_url": self.stack.alertmanager_url,
            "alert_receiver_url": f"{self.receiver.url}/api/messages",
        })

    def push(self, verdict: Verdict, profile: TargetProfile) -> None:
        """Push the verdict to the stack's Pushgateway, as a scheduled ``callprobe run --push`` would.

        So the shipped ``CallprobeProbeFailing`` rule is fed by real runs; a push
        that fails is a note on the verdict, not a failure of the scenario.
        """
        if self.stack is None:
            return
        try:
            push_verdict(self.stack.pushgateway_url, verdict, PushKey(probe=verdict.scenario, target=profile.name, location="pytest"))
        except ProbeError as exc:
            verdict.evidence.notes.append(f"stack mode: {exc}")

    def close(self) -> None:
        if self.stack is not None:
            self.stack.stop()
            self.stack = None
        if self.receiver is not None:
            self.receiver.stop()
            self.receiver = None
