"""A bundle's reports for people, rendered from what export wrote: report.json (the chain,
the SQNR analysis, latencies) and manifest.json (the files and the model)."""

from __future__ import annotations

import json
from pathlib import Path

from ..runtime.errors import EdgeharError
from ..runtime.files import atomic_path
from ..runtime.manifest import read_manifest
from .html import render_report_html
from .markdown import render_report_md

REPORT_JSON = "report.json"


def read_report(bundle: Path) -> dict:
    path = Path(bundle) / REPORT_JSON
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise EdgeharError(path, f"not an export report ({type(e).__name__})") from None
    if not isinstance(report, dict):
        raise EdgeharError(path, "not an export report (expected a JSON object)")
    return report


def render_reports(bundle: Path) -> None:
    """report.md and report.html in ``bundle``, each written atomically."""
    bundle = Path(bundle)
    manifest, report = read_manifest(bundle), read_report(bundle)
    for name, text in (("report.md", render_report_md(manifest, report)),
                       ("report.html", render_report_html(manifest, report))):
        with atomic_path(bundle / name) as tmp:
            tmp.write_text(text)
