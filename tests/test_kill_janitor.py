"""Nothing synthetic is left behind: 100 ``callprobe run`` processes, some SIGKILLed mid-call, then one janitor run.

A SIGKILL gives a probe no chance to cancel what it booked; the janitor is the
answer. Non-synthetic bookings are planted first. Killed runs die at a random
moment, or right when their booking shows up in Cal.com (so some bookings
are certainly orphaned). After one ``callprobe janitor``, no synthetic booking
is active and every planted one still is. Long (a few minutes): marked
``stack``; ``CALLPROBE_KILL_RUNS`` changes the number of runs. The counts are
printed (``-s``).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from probes._bookings import is_synthetic_booking
from probes._caller import make_caller
from probes._profile import TargetProfile
from tests import stubs
from tests.test_janitor import free_slots, plant

pytestmark = pytest.mark.stack

RUNS = int(os.environ.get("CALLPROBE_KILL_RUNS", "100"))
PARALLEL = 4
ENV = {**os.environ, "PYTHONPATH": os.getcwd()}


@pytest.fixture(scope="module")
def gateway() -> Iterator[TargetProfile]:
    with stubs.long_lived_gateway(shared=True) as profile:  # several probes at once: shared
        yield profile


def active(calcom_url: str) -> list[dict[str, Any]]:
    return [b for b in httpx.get(f"{calcom_url}/__admin/bookings", timeout=10).json()["bookings"] if b["status"] == "accepted"]


def one_run(i: int, target: Path, calcom_url: str, mode: str, rng: random.Random) -> str:
    """Run one probe; ``mode`` none: let it finish; random: SIGKILL at a random moment; booked: SIGKILL once it booked."""
    mine = make_caller(1000 + i, "en_US").email  # the seed pins the caller, so this run's booking is the one with its e-mail
    proc = subprocess.Popen([sys.executable, "-m", "probes._cli", "run", "happy-path-booking", "--target", str(target),
                             "--seed", str(1000 + i)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    try:
        if mode == "random":
            try:
                proc.wait(timeout=rng.uniform(0.2, 2.5))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
        elif mode == "booked":
            until = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < until:
                if any(a["email"] == mine for b in active(calcom_url) for a in b["attendees"]):
                    proc.send_signal(signal.SIGKILL)
                    break
                time.sleep(0.02)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return "killed" if proc.returncode == -signal.SIGKILL else "finished"


def test_after_killed_probes_one_janitor_run_leaves_no_synthetic_booking_and_every_real_one(
        gateway: TargetProfile, tmp_path: Path) -> None:
    calcom_url = str(gateway.calcom_mock_url)
    target = tmp_path / "target.yaml"
    target.write_text(yaml.safe_dump(gateway.model_dump(mode="json", exclude_unset=True, exclude={"name"})), encoding="utf-8")
    real = {plant(calcom_url, f"patient{i}@example.org", start) for i, start in enumerate(free_slots(calcom_url, 1001, 5, days_ahead=40))}
    rng = random.Random(20261130)
    modes = [rng.choice(["none", "random", "booked"]) for _ in range(RUNS)]
    with ThreadPoolExecutor(PARALLEL) as pool:
        ends = list(pool.map(lambda i: one_run(i, target, calcom_url, modes[i], random.Random(i)), range(RUNS)))
    orphans = [b for b in active(calcom_url) if is_synthetic_booking(b)]
    done = subprocess.run([sys.executable, "-m", "probes._cli", "janitor", "--target", str(target), "--older-than", "0s"],
                          check=False, capture_output=True, text=True, env=ENV, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    left = active(calcom_url)
    print(f"\n{RUNS} runs: {ends.count('killed')} SIGKILLed ({modes.count('booked')} right after booking), "
          f"{ends.count('finished')} finished; {len(orphans)} synthetic bookings orphaned before the janitor, "
          f"{sum(is_synthetic_booking(b) for b in left)} after; {len(real)} planted real bookings, "
          f"{len(real & {b['uid'] for b in left})} still active\n{done.stdout.splitlines()[-1]}")
    assert ends.count("killed") >= RUNS // 4 and orphans, "the test must orphan some bookings to prove anything"
    assert not [b for b in left if is_synthetic_booking(b)]
    assert real <= {b["uid"] for b in left}
