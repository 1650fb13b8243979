"""`driftscan report`: render a stored scan."""

from __future__ import annotations

from pathlib import Path

import click

from driftscan.cli.common import db_option, get_ruleset, handle_errors, open_store, rules_option
from driftscan.cli.output import FORMATS, emit


@click.command("report")
@click.option("--scan", "scan_id", type=int, default=None, help="Scan id (default: the newest).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report to this file instead of standard output.",
)
@db_option
@rules_option
@handle_errors
def report(
    scan_id: int | None,
    fmt: str,
    output: Path | None,
    db_url: str | None,
    rules_dirs: tuple[Path, ...],
) -> None:
    """Show a stored scan: per dimension the values in use, their spread, and every repo.

    \b
    Examples:
      driftscan report
      driftscan report --scan 12 --format json -o scan-12.json
      driftscan report --format markdown >> "$GITHUB_STEP_SUMMARY"
    """
    store = open_store(db_url)
    scan = store.load_scan(scan_id)
    emit(scan, get_ruleset(rules_dirs), fmt, output)
