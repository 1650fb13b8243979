"""`driftscan report`: render a stored scan; `driftscan report effort`: duplicated effort."""

from __future__ import annotations

from pathlib import Path

import click

from driftscan.cli.common import (
    db_option,
    get_policy,
    get_ruleset,
    handle_errors,
    open_store,
    output_option,
    policy_option,
    rules_option,
    write_table,
    write_text,
)
from driftscan.cli.output import REPORT_FORMATS, emit, emit_html
from driftscan.effort_runner import build_effort_report
from driftscan.reports import effort as effort_report


@click.group("report", invoke_without_command=True)
@click.option("--scan", "scan_id", type=int, default=None, help="Scan id (default: the newest).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(REPORT_FORMATS),
    default="table",
    show_default=True,
    help="html: one self-contained page with charts, trends and duplicated effort.",
)
@output_option
@policy_option
@db_option
@rules_option
@click.pass_context
@handle_errors
def report(
    ctx: click.Context,
    scan_id: int | None,
    fmt: str,
    output: Path | None,
    policy_file: Path | None,
    db_url: str | None,
    rules_dirs: tuple[Path, ...],
) -> None:
    """Show a stored scan: per dimension the values in use, their spread, and every repo.

    \b
    Examples:
      driftscan report
      driftscan report --scan 12 --format json -o scan-12.json
      driftscan report --format markdown >> "$GITHUB_STEP_SUMMARY"
      driftscan report --format html -o report.html --policy driftscan.yaml
      driftscan report effort                 # duplicated infrastructure effort
    """
    if ctx.invoked_subcommand is not None:
        return
    store = open_store(db_url)
    ruleset = get_ruleset(rules_dirs)
    if fmt == "html":
        policy = get_policy(policy_file, ruleset)
        emit_html(store, store.load_scan(scan_id), ruleset, policy, output)
        return
    emit(store.load_scan(scan_id), ruleset, fmt, output)


@report.command("effort")
@click.option("--scan", "scan_id", type=int, default=None, help="Scan id (default: the newest).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("table", "markdown", "json", "csv")),
    default="table",
    show_default=True,
)
@click.option(
    "--top",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    help="Rows per section in table and Markdown output.",
)
@output_option
@policy_option
@db_option
@rules_option
@handle_errors
def effort(
    scan_id: int | None,
    fmt: str,
    top: int,
    output: Path | None,
    policy_file: Path | None,
    db_url: str | None,
    rules_dirs: tuple[Path, ...],
) -> None:
    """Where teams solve the same infrastructure problem separately: copied files (clusters),
    the same tool at many versions (drift) and different tools for one job (divergence),
    ranked by an effort score whose arithmetic is shown."""
    store = open_store(db_url)
    ruleset = get_ruleset(rules_dirs)
    policy = get_policy(policy_file, ruleset)
    data = build_effort_report(store, store.load_scan(scan_id), ruleset, policy)
    if fmt == "table":
        write_table(output, lambda console: effort_report.render_table(console, data, top))
        return
    text = {
        "markdown": lambda: effort_report.render_markdown(data, top),
        "json": lambda: effort_report.render_json(data),
        "csv": lambda: effort_report.render_csv(data),
    }[fmt]()
    write_text(output, text)
