"""The exporter's memory stays flat: 1,000 probes of the production-safe catalogue against one gateway.

The exporter runs as its own process (``callprobe exporter``) so its resident
set size is its own; the gateway it probes (a long-lived reference gateway,
``shared: true`` since four probes run at once) lives in the test process.
RSS is read from /proc after a warm-up and after the last probe; the numbers
are printed (``-s``). Long: marked ``stack``; ``CALLPROBE_MEMORY_PROBES``
changes the count.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import yaml

from probes._probeconfig import catalogue
from probes._profile import TargetProfile
from probes._stack import free_port
from tests import stubs
from tests.test_exporter import _answers, wait_for

pytestmark = pytest.mark.stack

PROBES = int(os.environ.get("CALLPROBE_MEMORY_PROBES", "1000"))
WARM_UP = 100
SAFE = sorted(name for name, s in catalogue([Path("scenarios")]).items() if s.production == "safe" and name == s.name)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def gateway() -> Iterator[TargetProfile]:
    with stubs.long_lived_gateway(shared=True) as profile:  # several probes at once: shared
        yield profile


def test_rss_is_flat_over_a_thousand_probes(gateway: TargetProfile, tmp_path: Path) -> None:
    (tmp_path / "gw.yaml").write_text(yaml.safe_dump(gateway.model_dump(mode="json", exclude_unset=True, exclude={"name"})))
    (tmp_path / "callprobe.yml").write_text(yaml.safe_dump({
        "targets": {"gw": {"profile": "gw.yaml"}}, "scenario_dirs": [str(Path("scenarios").resolve())]}))
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "probes._cli", "exporter", "--config", str(tmp_path / "callprobe.yml"),
                             "--port", str(port), "--concurrency", "4"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for("the exporter", lambda: _answers(f"{url}/-/healthy"), 30)
        started = rss_mb(proc.pid)

        def scrape(i: int) -> bool:
            answer = httpx.get(f"{url}/probe", params={"module": SAFE[i % len(SAFE)], "target": "gw"}, timeout=120,
                               headers={"X-Prometheus-Scrape-Timeout-Seconds": "60"})
            return answer.status_code == 200 and "probe_success" in answer.text

        with ThreadPoolExecutor(4) as pool:
            assert all(pool.map(scrape, range(WARM_UP)))
            warm = rss_mb(proc.pid)
            assert all(pool.map(scrape, range(WARM_UP, PROBES)))
        end = rss_mb(proc.pid)
        own = httpx.get(f"{url}/metrics", timeout=10).text
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=120)
    print(f"\nexporter RSS: {started:.1f} MB at start, {warm:.1f} MB after {WARM_UP} probes, {end:.1f} MB after {PROBES} "
          f"({len(SAFE)} production-safe modules, 4 at a time)")
    assert "Traceback" not in err
    assert f'callprobe_exporter_probes_total{{module="{SAFE[0]}"' in own
    assert end - warm < 10.0, f"RSS grew {end - warm:.1f} MB over {PROBES - WARM_UP} probes after the warm-up"
