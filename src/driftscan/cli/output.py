"""Render a scan in the chosen format to standard output or a file."""

from __future__ import annotations

from pathlib import Path

from driftscan.cli.common import write_table, write_text
from driftscan.engine.analyse import divergence
from driftscan.engine.rules import Ruleset
from driftscan.models import ScanSummary
from driftscan.reports import console as console_report
from driftscan.reports import json_report, markdown

FORMATS = ("table", "json", "markdown")


def emit(scan: ScanSummary, ruleset: Ruleset, fmt: str, output: Path | None) -> None:
    divergences = divergence(ruleset.rules, scan.repos)
    if fmt == "table":
        write_table(output, lambda console: console_report.render(console, scan, divergences))
    elif fmt == "json":
        write_text(output, json_report.render(scan, divergences))
    else:
        write_text(output, markdown.render(scan, divergences))
