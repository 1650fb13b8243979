"""Render a scan in the chosen format to standard output or a file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from driftscan.cli.common import write_table, write_text
from driftscan.engine.analyse import Divergence, divergence
from driftscan.engine.policy import Policy
from driftscan.engine.rules import Ruleset
from driftscan.models import ScanSummary
from driftscan.reports import console as console_report
from driftscan.reports import json_report, markdown
from driftscan.store.queries import Store

FORMATS = ("table", "json", "markdown")
REPORT_FORMATS = (*FORMATS, "html")  # html reads the scan history too: `driftscan report` only


def emit(
    scan: ScanSummary,
    ruleset: Ruleset,
    fmt: str,
    output: Path | None,
    divergences: Sequence[Divergence] | None = None,
) -> None:
    if divergences is None:
        divergences = divergence(ruleset.rules, scan.repos)
    if fmt == "table":
        write_table(output, lambda console: console_report.render(console, scan, divergences))
    elif fmt == "json":
        write_text(output, json_report.render(scan, divergences))
    else:
        write_text(output, markdown.render(scan, divergences))


def emit_html(
    store: Store,
    scan: ScanSummary,
    ruleset: Ruleset,
    policy: Policy | None,
    output: Path | None,
) -> None:
    """The self-contained HTML report: this scan, the trends up to it, duplicated effort."""
    # Imported here: pygal and the page builder cost every other command (check runs as a
    # pre-commit hook) about 70 ms of start-up.
    from driftscan.html_runner import build_html_data
    from driftscan.reports import html as html_report

    write_text(output, html_report.render(build_html_data(store, scan, ruleset, policy)))
