"""Render an Allure results folder into one offline HTML file: ``callprobe report RESULTS -o OUTPUT``.

Allure 3 (npm ``allure``, run through ``npx --yes allure@3``) does the
rendering; this wrapper adds what the bare command lacks here: the
categories and the single-file option (a config written from
:mod:`probes._categories`, so the table lives in one place), and it strips the
Google Tag Manager script the default "awesome" plugin hard-codes, so opening
the report makes no external request.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from ._categories import allure_config
from ._errors import ConfigError

__all__ = ["ALLURE_PACKAGE", "render_report", "strip_external_scripts"]

ALLURE_PACKAGE = "allure@3"
_EXTERNAL_SCRIPT = re.compile(r"<script\b[^>]*\bsrc=[\"']https?://[^\"']*[\"'][^>]*>\s*</script>", re.I)
_GTAG_INLINE = re.compile(r"<script\b[^>]*>(?:(?!</script>)[\s\S])*?(?:googletagmanager|gtag\(|dataLayer)"
                          r"(?:(?!</script>)[\s\S])*</script>", re.I)


def strip_external_scripts(page: str) -> str:
    """``page`` without scripts loaded from the network and without the inline gtag bootstrap."""
    return _GTAG_INLINE.sub("", _EXTERNAL_SCRIPT.sub("", page))


def render_report(results: Path, output: Path, *, timeout_s: float = 300.0) -> float:
    """Render ``results`` into ``output``/index.html (single file, no external request); returns seconds taken."""
    npx = shutil.which("npx")
    if npx is None:
        raise ConfigError("npx (Node.js 20+) is not on PATH: install nodejs/npm to render the Allure report")
    if not results.is_dir():
        raise ConfigError(f"{results}: no Allure results folder (run pytest with --alluredir {results} first)")
    with tempfile.TemporaryDirectory(prefix="callprobe-allure-") as tmp:
        config = Path(tmp) / "allurerc.json"
        config.write_text(json.dumps(allure_config()), encoding="utf-8")
        started = time.perf_counter()
        cmd = [npx, "--yes", ALLURE_PACKAGE, "generate", str(results), "-o", str(output), "--config", str(config)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise ConfigError(f"allure generate did not finish within {timeout_s:g} s") from None
        elapsed = time.perf_counter() - started
    index = output / "index.html"
    if done.returncode != 0 or not index.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise ConfigError(f"allure generate failed (exit {done.returncode}): {' / '.join(tail)}")
    for page in output.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        cleaned = strip_external_scripts(text)
        if cleaned != text:
            page.write_text(cleaned, encoding="utf-8")
    return elapsed
