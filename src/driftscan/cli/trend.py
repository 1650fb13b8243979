"""`driftscan trend`: how the org's values move over stored scans."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
from rich.console import Console

from driftscan.cli.common import (
    db_option,
    fail,
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
from driftscan.engine.policy import Policy, policy_targets
from driftscan.engine.trend import (
    BUCKETS,
    FindingChanges,
    RepoChoice,
    choose_repos,
    finding_changes,
    goal_progress,
    known_teams,
    trend,
)
from driftscan.reports import trend as trend_report
from driftscan.store.queries import Store

FORMATS = ("table", "csv", "json", "markdown")


@click.command("trend")
@click.option(
    "--dimension",
    "-d",
    "dimensions",
    multiple=True,
    metavar="ID",
    help="Dimension to chart, e.g. ci.system (repeatable; default: every dimension).",
)
@click.option("--by", type=click.Choice(BUCKETS), default="scan", show_default=True)
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Only scans started on or after this date (UTC).",
)
@click.option("--last", type=click.IntRange(min=1), default=None, help="Only the last N points.")
@click.option(
    "--include-incomplete",
    is_flag=True,
    help="Also chart scans that were parked or interrupted (they may miss repositories).",
)
@click.option(
    "--findings",
    is_flag=True,
    help="Chart failing findings per kind instead of values, and list what is new and what "
    "was fixed between the first and the last point.",
)
@click.option(
    "--team",
    "teams",
    multiple=True,
    metavar="TEAM",
    help="Only the repositories this team owns in the newest charted scan (CODEOWNERS, else "
    "the policy's owners map; repeatable).",
)
@click.option(
    "--repo",
    "repo_globs",
    multiple=True,
    metavar="GLOB",
    help="Only repositories whose full or bare name matches (repeatable), e.g. 'payments-*'.",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@output_option
@db_option
@rules_option
@policy_option
@handle_errors
def trend_command(
    dimensions: tuple[str, ...],
    by: str,
    since: datetime | None,
    last: int | None,
    include_incomplete: bool,
    findings: bool,
    teams: tuple[str, ...],
    repo_globs: tuple[str, ...],
    fmt: str,
    output: Path | None,
    db_url: str | None,
    rules_dirs: tuple[Path, ...],
    policy_file: Path | None,
) -> None:
    """Chart, per dimension and value, how many repositories use it scan after scan (or per
    calendar week or month: the last scan in each).

    \b
    Examples:
      driftscan trend -d ci.system
      driftscan trend -d secrets.handling --by month --since 2026-01-01
      driftscan trend --format csv -o trend.csv
      driftscan trend --findings --by month    # failing findings; new and fixed since
      driftscan trend --team @acme/payments    # one team's repositories
      driftscan trend --repo api-gateway -d deploy.method   # one repository's history
    """
    ruleset = get_ruleset(rules_dirs)
    known = {rule.dimension for rule in ruleset.rules}
    unknown = sorted(set(dimensions) - known)
    if unknown:
        fail(f"unknown dimension {', '.join(unknown)}: choose from {', '.join(sorted(known))}")
    store = open_store(db_url)
    policy = get_policy(policy_file, ruleset)
    choice = (
        _choose(store, teams, repo_globs, policy, since, include_incomplete)
        if teams or repo_globs
        else None
    )
    repo_ids = choice.repo_ids if choice else None
    scope = choice.scope if choice else ""
    changes: FindingChanges | None = None
    if findings:
        scans = store.trend_scans(since, include_incomplete)
        if choice is not None:  # the chosen repositories that each scan read
            scans = store.trend_counts((), since, include_incomplete, repo_ids)[0]
        counts = store.finding_counts([s.scan_id for s in scans], dimensions, repo_ids)
        result = trend(scans, counts, by, last=last, scope=scope)
        if result.buckets:
            first, newest = result.buckets[0], result.buckets[-1]
            locations = choice.locations if choice else None
            now_failing = store.failing_findings(newest.scan_id, dimensions, locations)
            changes = finding_changes(
                first.label,
                store.failing_findings(first.scan_id, dimensions, locations),
                now_failing,
                store.first_seen(now_failing),
                newest.at,
            )
    else:
        scans, values, covered = store.trend_counts(dimensions, since, include_incomplete, repo_ids)
        result = trend(scans, values, by, covered, last, scope)
    targets = policy.goals + policy_targets(policy) if policy and not findings else ()
    goals = [
        goal_progress(goal, result)
        for goal in targets
        if not dimensions or goal.dimension in dimensions
    ]
    label = "finding kind" if findings else "value"
    if fmt == "table":

        def render(console: Console) -> None:
            trend_report.render_table(console, result, changes, label)
            trend_report.render_goals(console, goals)

        write_table(output, render)
    elif fmt == "csv":
        write_text(output, trend_report.render_csv(result))
    elif fmt == "json":
        write_text(output, trend_report.render_json(result, changes, goals))
    else:
        write_text(output, trend_report.render_markdown(result, changes, goals, label))


def _choose(
    store: Store,
    teams: tuple[str, ...],
    globs: tuple[str, ...],
    policy: Policy | None,
    since: datetime | None,
    include_incomplete: bool,
) -> RepoChoice:
    """The repositories `--team` / `--repo` name, as the newest charted scan saw them."""
    scans = store.trend_scans(since, include_incomplete)
    if not scans:
        fail("no scan to chart yet: run `driftscan scan` first")
    newest = max(scans, key=lambda s: s.scan_id)
    repos = store.repo_owners(newest.scan_id)
    owner_map = policy.owners if policy else ()
    choice = choose_repos(repos, teams, globs, owner_map)
    if not choice.repo_ids:
        seen = ", ".join(f"{team} ({n})" for team, n in known_teams(repos, owner_map)[:8])
        hint = f"; teams in it: {seen}" if teams and seen else ""
        fail(f"no repository of scan #{newest.scan_id} matches {choice.label}{hint}")
    return choice
