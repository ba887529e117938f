"""The alert rules callprobe ships, rendered in a target's words.

The rules are written once, in the contract's roles
(``probes/rules/gateway.rules.tmpl.yml``), and rendered for a target by its
contract: a rule that hard-coded ``status="processed"`` would fire for ever
on a gateway that says ``outcome="ok"``. Stack mode loads them rendered and
time-compressed; ``callprobe rules --target PROFILE`` prints them for a
team's own Prometheus.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import yaml

from ._contract import Contract, render_promql
from ._errors import UnmappedRole

__all__ = ["RULES_TEMPLATE", "compress_rules", "render_rules", "rules_template_path"]

RULES_TEMPLATE = "gateway.rules.tmpl.yml"
_DURATION = re.compile(r"\[(\d+)m\]")
_FOR = re.compile(r"^(\d+)m$")
_RULE = re.compile(r"(?m)^(?=      - alert:)")


def rules_template_path() -> Path:
    """The rules template (package data)."""
    return Path(str(resources.files("probes") / "rules" / RULES_TEMPLATE))


def render_rules(contract: Contract | None = None, template: str | None = None, *, strict: bool = True) -> str:
    """The shipped rules in the words of ``contract`` (the defaults when None).

    A rule that needs a role the contract cannot map raises UnmappedRole, or
    with ``strict=False`` is left out with a comment saying why (a gateway
    without a Cal.com error counter still wants the other rules).
    """
    text = template if template is not None else rules_template_path().read_text(encoding="utf-8")
    terms = contract or Contract()
    blocks = _RULE.split(text)
    out = [render_promql(terms, blocks[0])]
    for block in blocks[1:]:
        try:
            out.append(render_promql(terms, block))
        except UnmappedRole as exc:
            if strict:
                raise
            name = block.split("\n", 1)[0].split(":", 1)[1].strip()
            out.append(f"      # {name} left out: {exc}\n")
    return "".join(out)


def compress_rules(text: str) -> str:
    """The rules with every minute duration (range selectors and ``for``) turned into seconds.

    Production windows (``rate(x[5m])``, ``for: 2m``) would make a test wait
    minutes; scaling them by 1/60 keeps the rule logic identical while the 1 s
    scrape and evaluation intervals still give several samples per window.
    """
    data = yaml.safe_load(text)
    for group in data.get("groups", []):
        for rule in group.get("rules", []):
            rule["expr"] = _DURATION.sub(lambda m: f"[{m.group(1)}s]", str(rule["expr"]))
            if "for" in rule and (m := _FOR.match(str(rule["for"]))):
                rule["for"] = f"{m.group(1)}s"
    return ("# callprobe stack mode: time-compressed copy of the shipped rules (minutes become seconds)\n"
            + yaml.safe_dump(data, sort_keys=False))
