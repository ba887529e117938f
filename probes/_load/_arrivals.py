"""The open workload: when each call should start, whatever the gateway's answers take.

Retell posts a webhook when a call happens, not when the gateway is ready for
it. A closed loop of users sends less while the gateway is slow and so hides
the tail latency exactly when it matters (coordinated omission). Here the
start times are a function of the clock alone: a rate profile (constant, ramp,
step, spike, soak) in calls per second, split over ``streams`` arrival
streams, with constant spacing or Poisson arrivals. Latency is then measured
from each request's *intended* send time.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = ["Arrivals", "RateProfile"]

STEP_S = 0.001  # resolution of the rate's integral


@dataclass(frozen=True)
class RateProfile:
    """Calls per second over the run: ``kind`` shapes a peak ``rate`` over ``duration_s``.

    - constant: ``rate`` throughout;
    - ramp: from 0 up to ``rate`` linearly (finds the knee);
    - step: five equal steps up to ``rate``;
    - spike: a quarter of ``rate``, with ``rate`` for the middle tenth of the run;
    - soak: a short ramp (a tenth of the run, at most 60 s), then ``rate`` for the rest.
    """

    kind: str
    rate: float
    duration_s: float

    def rate_at(self, t: float) -> float:
        """The intended rate ``t`` seconds into the run (0 after the end)."""
        d, r = self.duration_s, self.rate
        if t < 0 or t >= d:
            return 0.0
        if self.kind == "ramp":
            return r * t / d
        if self.kind == "step":
            return r * (math.floor(5 * t / d) + 1) / 5
        if self.kind == "spike":
            return r if 0.45 * d <= t < 0.55 * d else r / 4
        if self.kind == "soak":
            warm = min(60.0, d / 10)
            return r * t / warm if t < warm else r
        return r

    def intended_calls(self, until_s: float | None = None) -> float:
        """How many calls the profile asks for in its first ``until_s`` seconds (numerically, 1 ms steps)."""
        end = self.duration_s if until_s is None else min(until_s, self.duration_s)
        steps = max(1, int(end * 1000))
        dt = end / steps
        return sum(self.rate_at((i + 0.5) * dt) for i in range(steps)) * dt


class Arrivals:
    """The intended start times of one stream: its share (1/streams) of the profile's rate.

    Times are seconds from the run's start; ``next()`` gives the next one, or
    None once the profile is over. Arrival ``k`` comes when the integral of the
    stream's rate reaches ``k`` plus a random phase (constant spacing), or after
    an exponentially distributed amount of it (Poisson), so a ramp gets exactly
    the calls its rate asks for. Poisson streams add up to a Poisson process of
    the whole rate; constant streams are staggered by their random phases.
    """

    def __init__(self, profile: RateProfile, *, streams: int = 1, poisson: bool = False, seed: int | None = None) -> None:
        self.profile = profile
        self.streams = max(1, streams)
        self.poisson = poisson
        self._rng = random.Random(seed)
        self._t: float | None = None

    def _need(self) -> float:
        """How much of the rate's integral to the next arrival (in calls)."""
        if self.poisson:
            return self._rng.expovariate(1.0)
        return 1.0 if self._t is not None else self._rng.random()

    def next(self) -> float | None:
        t, need, end = self._t or 0.0, self._need(), self.profile.duration_s
        while t < end:
            rate = self.profile.rate_at(t) / self.streams
            if rate * STEP_S >= need:
                self._t = t + need / rate
                return self._t if self._t < end else None
            need -= rate * STEP_S
            t += STEP_S
        self._t = end
        return None
