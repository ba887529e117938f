"""The README's scheduling recipes stay true: every callprobe command in them parses, the config example loads,
the CronJob and the CI workflow are well-formed, and the scrape config is the shipped one."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from probes._cli import _parser
from probes._probeconfig import ConfigFile, build_config

README = Path("README.md").read_text(encoding="utf-8")
SECTION = README.split("## Scheduled probes against production", 1)[1].split("\n## ", 1)[0]
BLOCKS = re.findall(r"```(\w*)\n(.*?)```", SECTION, re.DOTALL)


def commands() -> list[list[str]]:
    """Every ``callprobe …`` invocation of the section, as argv (YAML lists and folded lines included)."""
    out = []
    for lang, body in BLOCKS:
        if lang == "yaml" and "kind: CronJob" in body:
            out.append(yaml.safe_load(body)["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"])
            continue
        if lang == "yaml" and "jobs:" in body:
            step = next(s["run"] for s in yaml.safe_load(body)["jobs"]["probe"]["steps"] if "callprobe run" in s.get("run", ""))
            body = step.replace('"$PUSHGATEWAY_URL"', "http://pushgateway:9091")
        for line in body.replace("\\\n", " ").splitlines():
            if "bin/callprobe " not in line or line.lstrip().startswith("#"):
                continue
            tail = line.split("bin/callprobe ", 1)[1]
            argv = shlex.split(tail.split(" >", 1)[0].split("   #", 1)[0])
            out.append(["host" if a == "%H" else a for a in argv])  # systemd's %H: the host name
    return out


def test_the_section_has_every_recipe() -> None:
    text = SECTION
    for recipe in ("Prometheus scraping the exporter", "**cron**", "**systemd timer**", "**Kubernetes CronJob**", "**CI schedule**"):
        assert recipe in text, recipe
    assert len(commands()) >= 8


@pytest.mark.parametrize("argv", commands(), ids=lambda a: " ".join(a)[:60])
def test_every_command_of_the_recipes_parses(argv: list[str]) -> None:
    args = _parser().parse_args(argv)
    assert callable(args.func)


def test_the_config_example_loads(tmp_path: Path) -> None:
    [config] = [body for lang, body in BLOCKS if lang == "yaml" and body.startswith("# callprobe.yml")]
    [profile] = [body for lang, body in BLOCKS if lang == "yaml" and body.startswith("# prod.yaml")]
    (tmp_path / "prod.yaml").write_text(profile)
    data = ConfigFile.model_validate(yaml.safe_load(config))
    loaded = build_config(data.model_copy(update={"scenario_dirs": [str(Path("scenarios").resolve())]}), tmp_path, "README")
    assert {"booking", "health", "happy-path-booking"} <= loaded.modules.keys()
    target = loaded.targets["prod"].profile
    assert target is not None and target.production and target.shared and target.calcom_api_url == "https://api.cal.com"


def test_the_units_are_oneshot_with_a_timer_and_the_exporter_waits_for_cleanup() -> None:
    ini = [body for lang, body in BLOCKS if lang == "ini"]
    service, timer = next(b for b in ini if "Type=oneshot" in b), next(b for b in ini if "[Timer]" in b)
    exporter = next(b for b in ini if "callprobe exporter" in b)
    assert "EnvironmentFile=/etc/callprobe/env" in service and "OnCalendar=*:0/5" in timer
    seconds = int(re.search(r"TimeoutStopSec=(\d+)", exporter).group(1))  # type: ignore[union-attr]
    assert seconds > 60  # longer than the exporter's shutdown_grace


def test_the_cronjob_never_overlaps_and_gives_sigterm_time() -> None:
    [job] = [yaml.safe_load(body) for lang, body in BLOCKS if lang == "yaml" and "kind: CronJob" in body]
    spec = job["spec"]
    assert job["apiVersion"] == "batch/v1" and spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["terminationGracePeriodSeconds"] >= 30
