"""`driftscan report`: render a stored scan; `driftscan report effort`: duplicated effort."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from driftscan.cli.common import (
    db_option,
    get_policy,
    get_ruleset,
    handle_errors,
    load_report_scan,
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
    scan = load_report_scan(store, scan_id)
    if fmt == "html":
        policy = get_policy(policy_file, ruleset)
        emit_html(store, scan, ruleset, policy, output)
        return
    emit(scan, ruleset, fmt, output)


EFFORT_FORMATS = ("table", "markdown", "json", "csv")
_SHARED = ("scan_id", "fmt", "output", "policy_file", "db_url", "rules_dirs")
_GIVEN = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def _shared_options(ctx: click.Context, values: dict[str, Any]) -> dict[str, Any]:
    """`report --format json effort` means `report effort --format json`: an option given
    to the parent group applies to the subcommand; given to both with different values, it
    is a usage error rather than one of them silently ignored."""
    parent = ctx.parent
    if parent is None:
        return values
    out = dict(values)
    for name in _SHARED:
        if parent.get_parameter_source(name) not in _GIVEN:
            continue
        inherited = parent.params[name]
        flag = next(p.opts[0] for p in parent.command.params if p.name == name)
        if ctx.get_parameter_source(name) in _GIVEN and values[name] != inherited:
            raise click.UsageError(
                f"{flag} is given to both `report` ({_shown(inherited)}) and `report "
                f"{ctx.info_name}` ({_shown(values[name])}): give it once"
            )
        if name == "fmt" and inherited not in EFFORT_FORMATS:
            raise click.UsageError(
                f"`report {ctx.info_name}` has no {inherited} format "
                f"(choose from {', '.join(EFFORT_FORMATS)})"
            )
        out[name] = inherited
    return out


def _shown(value: Any) -> str:
    return " ".join(map(str, value)) if isinstance(value, tuple) else str(value)


@report.command("effort")
@click.option("--scan", "scan_id", type=int, default=None, help="Scan id (default: the newest).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(EFFORT_FORMATS),
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
@click.pass_context
@handle_errors
def effort(
    ctx: click.Context,
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
    ranked by an effort score whose arithmetic is shown.

    Options given to `report` itself (e.g. `report --scan 3 --format json effort`) apply here.
    """
    shared = _shared_options(
        ctx,
        {
            "scan_id": scan_id,
            "fmt": fmt,
            "output": output,
            "policy_file": policy_file,
            "db_url": db_url,
            "rules_dirs": rules_dirs,
        },
    )
    scan_id, fmt, output = shared["scan_id"], shared["fmt"], shared["output"]
    policy_file, db_url, rules_dirs = shared["policy_file"], shared["db_url"], shared["rules_dirs"]
    store = open_store(db_url)
    ruleset = get_ruleset(rules_dirs)
    policy = get_policy(policy_file, ruleset)
    data = build_effort_report(store, load_report_scan(store, scan_id), ruleset, policy)
    if fmt == "table":
        write_table(output, lambda console: effort_report.render_table(console, data, top))
        return
    text = {
        "markdown": lambda: effort_report.render_markdown(data, top),
        "json": lambda: effort_report.render_json(data),
        "csv": lambda: effort_report.render_csv(data),
    }[fmt]()
    write_text(output, text)
