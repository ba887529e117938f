"""Where a session's scenarios run, and how many at once: a front shared by the pytest plugin and the CLI.

A target profile (``--target``, ``CALLPROBE_TARGET_URL``) names one gateway
that the scenarios share; with the embedded default every scenario gets a
fresh reference gateway on a lane of its own. Scenarios run on a
:class:`~probes._pool.ProbePool`: concurrently when each has a target of its
own (the embedded default) or the profile says the target is shared (checks
then judge their own call only), one at a time otherwise, since an exact
counter delta on a shared gateway would count the neighbour's calls.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable
from typing import Any

from ._defaults import DEMO_CALCOM_API_KEY, DEMO_METRICS_TOKEN, DEMO_RETELL_API_KEY
from ._errors import ConfigError
from ._evidence import Verdict
from ._gate import TimingGate
from ._pool import ProbePool
from ._probe import probe
from ._profile import TargetProfile, load_profile, profile_from_env
from ._scenario import Scenario

__all__ = ["DEFAULT_CONCURRENCY", "Targets"]

DEFAULT_CONCURRENCY = 8  # the embedded default: scenarios mostly wait, and the timing gate keeps latency honest

Outcome = tuple[Verdict, TargetProfile]


class Targets:
    """The session's target (a profile, or the embedded world started on first use) and its probe pool."""

    def __init__(self, *, target: str | None, defects: frozenset[str] = frozenset(), stack: bool = False,
                 concurrency: int | None = None) -> None:
        self.profile: TargetProfile | None = load_profile(target) if target else profile_from_env()
        self._world: Any = None
        self._started = False
        self._stack: Any = None
        self._pool: ProbePool | None = None
        if stack:
            from ._stack_session import StackSession

            self._stack = StackSession()
        if self.profile is None:
            from ._embedded import EmbeddedWorld

            # Created now so a bad --gateway-defect is a usage error; started on first use.
            self._world = EmbeddedWorld(defects=defects)
        self.concurrency = self._concurrency(concurrency)

    def _concurrency(self, asked: int | None) -> int:
        if asked is not None and asked < 1:
            raise ConfigError(f"--callprobe-concurrency must be at least 1, got {asked}")
        if self._stack is not None:
            if asked not in (None, 1):
                raise ConfigError("--stack runs one scenario at a time (one Prometheus watches one gateway)")
            return 1
        if self.profile is not None and not self.profile.shared:
            if asked not in (None, 1):
                raise ConfigError(f"target {self.profile.name!r}: concurrent scenarios on one gateway need shared: true in the "
                                  "profile (exact counter deltas would count each other's calls)")
            return 1
        return asked or (DEFAULT_CONCURRENCY if self.profile is None else 1)

    def secret_values(self) -> list[str]:
        """Every secret value this session's probes use, for redacting what leaves the process (the embedded demo keys too)."""
        if self.profile is not None:
            return self.profile.secret_values()
        return [DEMO_RETELL_API_KEY, DEMO_METRICS_TOKEN, DEMO_CALCOM_API_KEY]

    @property
    def embedded(self) -> bool:
        return self.profile is None

    def _ensure_started(self) -> None:
        if self._world is not None and not self._started:
            self._world.start()
            self._started = True

    def _pool_(self) -> ProbePool:
        if self._pool is None:
            self._pool = ProbePool(self.concurrency)
        return self._pool

    def for_item(self) -> TargetProfile:
        """The profile a scenario that runs alone uses (stack mode attaches the stack's URLs)."""
        profile = self._profile_for_item()
        return self._stack.attach(profile) if self._stack is not None else profile

    def _profile_for_item(self) -> TargetProfile:
        if self.profile is not None:
            return self.profile
        self._ensure_started()
        if self._stack is not None:  # Prometheus needs one stable target for the session
            return self._world.session_gateway()  # type: ignore[no-any-return]
        return self._world.gateway()  # type: ignore[no-any-return]

    def submit(self, scenario: Scenario, seed: int | None = None) -> concurrent.futures.Future[Outcome]:
        """Run ``scenario`` on the pool; the future holds (verdict, the profile it ran against)."""
        return self._pool_().submit(self._job(scenario, seed))

    def _job(self, scenario: Scenario, seed: int | None) -> Callable[[TimingGate], Awaitable[Outcome]]:
        if self.embedded and self._stack is None:
            self._ensure_started()
            world = self._world

            async def leased(gate: TimingGate) -> Outcome:
                async with world.lease(gate=gate) as profile:
                    return await probe(scenario, profile, seed=seed, gate=gate), profile

            return leased
        profile = self.for_item()
        stack = self._stack

        async def fixed(gate: TimingGate) -> Outcome:
            verdict = await probe(scenario, profile, seed=seed, gate=gate)
            if stack is not None:  # stack mode: every verdict also reaches the Pushgateway, as a scheduled probe's would
                await asyncio.to_thread(stack.push, verdict, profile)
            return verdict, profile

        return fixed

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._stack is not None:
            self._stack.close()
        if self._started:
            self._world.stop()
            self._started = False
