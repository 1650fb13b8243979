"""`driftscan check` (a change against the golden path) and `driftscan baseline export`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from driftscan.check_runner import CheckError, export_baseline, run_check
from driftscan.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    db_option,
    fail,
    fingerprint_salt,
    get_policy,
    get_ruleset,
    handle_errors,
    load_report_scan,
    open_store,
    output_option,
    parse_size,
    policy_option,
    rules_option,
    stderr_console,
    write_table,
    write_text,
)
from driftscan.models import SEVERITY_RANK
from driftscan.reports import check as check_report

FORMATS = ("table", "sarif", "github", "gitlab", "markdown", "json", "junit")


@click.command("check")
@click.argument("path", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--base",
    "base_ref",
    metavar="REF",
    help="Compare with this commit (default: merge-base with the default branch).",
)
@click.option("--head", "head_ref", metavar="REF", help="Check this commit (default: HEAD).")
@click.option(
    "--staged",
    is_flag=True,
    help="Check the files git tracks or has staged, as in the work tree (pre-commit).",
)
@click.option(
    "--baseline",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Org norms exported with `driftscan baseline export`.",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option(
    "--fail-on",
    type=click.Choice([s for s in SEVERITY_RANK if s != "info"]),
    default="low",
    show_default=True,
    help="Lowest severity of a new finding that fails the check.",
)
@click.option("--max-file-size", default="1MiB", show_default=True)
@click.option(
    "--require-norm",
    is_flag=True,
    help="Exit 2 when there is no norm to compare with (no policy, baseline or stored scan) "
    "instead of passing with a note.",
)
@output_option
@policy_option
@db_option
@rules_option
@handle_errors
def check(
    path: Path,
    base_ref: str | None,
    head_ref: str | None,
    staged: bool,
    baseline: Path | None,
    fmt: str,
    fail_on: str,
    max_file_size: str,
    require_norm: bool,
    output: Path | None,
    policy_file: Path | None,
    db_url: str | None,
    rules_dirs: tuple[Path, ...],
) -> None:
    """Check a change against the org's golden path; report only what it introduces.

    Detection runs on the base and on the head; findings the base already had are counted
    but never fail. The org norm comes from --baseline (no database or token needed) or the
    newest complete scan in --db; the policy from --policy or ./driftscan.yaml; waivers may
    also live in the repository's .driftscan.yaml. PATH may be any folder inside a git work
    tree: the whole repository is checked. Without any norm the check says so and passes
    (--require-norm makes that exit 2).

    \b
    Exit codes: 0 no new finding at or above --fail-on; 1 there are; 2 usage or config error
    (also: no norm with --require-norm).

    \b
    Examples:
      driftscan check --baseline baseline.json --format github
      driftscan check --base origin/main --format sarif -o driftscan.sarif
      driftscan check --staged --fail-on medium          # as a pre-commit hook
    """
    ruleset = get_ruleset(rules_dirs)
    policy = get_policy(policy_file, ruleset)
    store = (
        open_store(db_url)
        if (db_url or os.environ.get("DRIFTSCAN_DB")) and baseline is None
        else None
    )
    try:
        run = run_check(
            path,
            ruleset,
            policy,
            base_ref=base_ref,
            head_ref=head_ref,
            staged=staged,
            baseline=baseline,
            store=store,
            max_file_size=parse_size(max_file_size),
            salt=fingerprint_salt(),
        )
    except CheckError as exc:
        fail(str(exc))
        return
    result = run.result
    if not result.has_norm and (require_norm or fmt != "table"):
        # Machine formats carry the note where they can; CI logs show it on stderr too.
        stderr_console().print(
            f"driftscan: {check_report.NO_NORM}", style="yellow", highlight=False, soft_wrap=True
        )
    remediation = {r.dimension: r.remediation.strip() for r in ruleset.rules}
    if fmt == "table":
        write_table(output, lambda console: check_report.render_table(console, result, fail_on))
    else:
        text = {
            "sarif": lambda: check_report.render_sarif(result, remediation),
            "github": lambda: check_report.render_github(result),
            "gitlab": lambda: check_report.render_gitlab(result),
            "markdown": lambda: check_report.render_markdown(result, fail_on),
            "json": lambda: check_report.render_json(result, fail_on, run.base_ref),
            "junit": lambda: check_report.render_junit(result, fail_on),
        }[fmt]()
        write_text(output, text)
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if fmt == "github" and summary_file:
        with Path(summary_file).open("a", encoding="utf-8") as handle:
            handle.write(check_report.render_markdown(result, fail_on))
    if require_norm and not result.has_norm:
        raise SystemExit(EXIT_USAGE)
    raise SystemExit(EXIT_FAILED if result.failing(fail_on) else EXIT_OK)


@click.group("baseline")
def baseline_group() -> None:
    """Export the org's norms for checks that run without the database."""


@baseline_group.command("export")
@click.option("--scan", "scan_id", type=int, default=None, help="Scan id (default: the newest).")
@output_option
@db_option
@rules_option
@handle_errors
def export(
    scan_id: int | None, output: Path | None, db_url: str | None, rules_dirs: tuple[Path, ...]
) -> None:
    """Write the per-dimension spread of a stored scan as JSON (driftscan/baseline/v1)."""
    store = open_store(db_url)
    text = (
        json.dumps(
            export_baseline(load_report_scan(store, scan_id), get_ruleset(rules_dirs)), indent=2
        )
        + "\n"
    )
    write_text(output, text)
