"""Render a scan in the chosen format to standard output or a file."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from driftscan.cli.common import stdout_console
from driftscan.engine.analyse import divergence
from driftscan.engine.rules import Ruleset
from driftscan.models import ScanSummary
from driftscan.reports import console as console_report
from driftscan.reports import json_report, markdown

FORMATS = ("table", "json", "markdown")


def emit(scan: ScanSummary, ruleset: Ruleset, fmt: str, output: Path | None) -> None:
    divergences = divergence(ruleset.rules, scan.repos)
    if fmt == "table":
        if output is None:
            console_report.render(stdout_console(), scan, divergences)
        else:
            with output.open("w", encoding="utf-8") as handle:
                console_report.render(
                    Console(file=handle, width=120, no_color=True), scan, divergences
                )
        return
    text = (
        json_report.render(scan, divergences)
        if fmt == "json"
        else markdown.render(scan, divergences)
    )
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
