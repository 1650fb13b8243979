"""The terminal report (rich): per dimension the spread of values, then one line per repo."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from driftscan.engine.analyse import CORE_CATEGORIES, Divergence, values_by_category
from driftscan.models import RepoStatus, ScanSummary

BAR_WIDTH = 20
CATEGORY_TITLES = {"ci": "CI", "deploy": "Deploy", "secrets": "Secrets", "monitoring": "Monitoring"}


def _bar(share: float) -> Text:
    filled = round(share * BAR_WIDTH)
    return Text("█" * filled + "·" * (BAR_WIDTH - filled), style="cyan")


def header(scan: ScanSummary) -> Text:
    errors, partial = scan.failed, scan.partial
    reused = sum(r.reused for r in scan.repos)
    text = Text()
    text.append(f"driftscan · scan #{scan.id} · ", style="bold")
    status_style = "green" if scan.status == "complete" else "yellow"
    text.append(scan.status, style=f"bold {status_style}")
    text.append(f" · {scan.started_at} · {len(scan.repos)} repositories")
    if errors:
        text.append(f" ({errors} could not be scanned)", style="red")
    if partial:
        text.append(f" ({partial} partly read)", style="yellow")
    if reused:
        text.append(f" · {reused} unchanged, facts reused")
    text.append(f" · ruleset {scan.ruleset_digest[:8]}", style="dim")
    return text


def dimension_table(d: Divergence) -> Table:
    table = Table(
        title=f"{d.title}  [dim]({d.dimension})[/dim]",
        title_justify="left",
        title_style="bold",
        show_edge=False,
        pad_edge=False,
        expand=False,
    )
    table.add_column("value", no_wrap=True)
    table.add_column("repos", justify="right")
    table.add_column("share", justify="right")
    table.add_column("", no_wrap=True)
    for v in d.values:
        table.add_row(v.value, str(v.repos), f"{v.share:.0%}", _bar(v.share))
    if d.seen:
        none_share = d.none / d.seen
        table.add_row(
            Text("(none)", style="dim"), str(d.none), f"{none_share:.0%}", _bar(none_share)
        )
    if d.unknown:
        table.add_row(Text("(unknown)", style="red"), str(d.unknown), "", "")
    return table


def dimension_summary(d: Divergence) -> Text:
    dominant = (
        f"dominant {d.dominant.value} {d.dominant_share:.0%}" if d.dominant else "no value seen"
    )
    return Text(f"{d.distinct} distinct · {dominant} · entropy {d.entropy:.2f}", style="dim")


def repos_table(scan: ScanSummary) -> Table:
    table = Table(title="Repositories", title_justify="left", title_style="bold", show_edge=False)
    table.add_column("repository", overflow="fold")
    for category in CORE_CATEGORIES:
        table.add_column(CATEGORY_TITLES[category], overflow="fold", min_width=10)
    notes_needed = any(
        r.status is not RepoStatus.OK or r.problems or not r.complete for r in scan.repos
    )
    if notes_needed:
        table.add_column("notes", overflow="fold")
    for repo in scan.repos:
        columns = values_by_category(repo)
        if repo.status is RepoStatus.ERROR:
            notes = Text(f"error: {repo.error}", style="red")
        else:
            parts = []
            if repo.status is RepoStatus.EMPTY:
                parts.append("empty")
            if repo.problems:
                parts.append(f"{len(repo.problems)} problem(s)")
            if not repo.complete:
                parts.append("partial view")
            notes = Text(", ".join(parts), style="yellow")
        cells = ["\n".join(columns[c]) or Text("—", style="dim") for c in CORE_CATEGORIES]
        # Text, not str: a repository named "[red]x" prints literally, never as rich markup.
        table.add_row(Text(repo.name), *cells, *([notes] if notes_needed else []))
    return table


def render(console: Console, scan: ScanSummary, divergences: Sequence[Divergence]) -> None:
    console.print(header(scan))
    console.print()
    for d in divergences:
        console.print(dimension_table(d))
        console.print(dimension_summary(d), soft_wrap=True)
        console.print()
    console.print(repos_table(scan))
    problems = [(r.name, p) for r in scan.repos for p in r.problems]
    if problems:
        console.print()
        console.print(
            Group(
                Text(f"{len(problems)} file problem(s) recorded; first ones:", style="yellow"),
                *[
                    Text(f"  {name}: {p.path or '(repository)'}: {p.reason}")
                    for name, p in problems[:10]
                ],
            )
        )
