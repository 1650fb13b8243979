"""Trends in the terminal (sparklines in a table), CSV, JSON and Markdown."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from itertools import groupby
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from driftscan.engine.trend import FindingChanges, GoalProgress, Series, Trend
from driftscan.models import Finding

TREND_SCHEMA = "driftscan/trend/v1"
_TICKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float]) -> str:
    """One character per bucket, from the series' own low to its high: the shape of the
    change shows even when a value moves from 4% to 1% of the org. Flat is a middle line
    (a bottom one when the value is absent throughout)."""
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return (_TICKS[3] if high > 0 else _TICKS[0]) * len(values)
    top = len(_TICKS) - 1
    return "".join(_TICKS[round((v - low) / (high - low) * top)] for v in values)


def goal_status(progress: GoalProgress) -> str:
    undated = progress.goal.by is None  # a policy target: converging or not, no deadline
    if progress.met:
        return "converged" if undated else "met"
    if progress.projected is None:
        return "not converging" if undated else "behind: not moving towards it"
    when = progress.projected.isoformat()
    if undated:
        return f"converging (est. {when})"
    return f"on track (est. {when})" if progress.on_track else f"behind (est. {when})"


def _now(progress: GoalProgress) -> str:
    if progress.current is None:
        return "—"
    return f"{progress.current:.0%}" if progress.goal.share else f"{progress.current:g} repos"


def render_goals(console: Console, goals: Sequence[GoalProgress]) -> None:
    if not goals:
        return
    table = Table(title="goals and policy targets", title_justify="left", title_style="bold")
    for column in ("goal", "by", "now", "status"):
        table.add_column(column)
    for g in goals:
        style = "green" if g.on_track else "red"
        table.add_row(g.goal.text, g.goal.by_text, _now(g), Text(goal_status(g), style=style))
    console.print(table)


def _goal(progress: GoalProgress) -> dict[str, Any]:
    return {
        "goal": progress.goal.text,
        "dimension": progress.goal.dimension,
        "value": progress.goal.value,
        "by": progress.goal.by.isoformat() if progress.goal.by else None,
        "source": "goal" if progress.goal.by else "policy",
        "current": progress.current,
        "met": progress.met,
        "on_track": progress.on_track,
        "projected": progress.projected.isoformat() if progress.projected else None,
    }


def _change(series: Series) -> str:
    delta = series.last.repos - series.first.repos
    return f"{delta:+d}" if delta else "="


CHANGES_CAP = 10


def render_table(
    console: Console, trend: Trend, changes: FindingChanges | None = None, label: str = "value"
) -> None:
    if not trend.buckets:
        console.print("No complete scan in the period: nothing to chart.")
        return
    first, last = trend.buckets[0], trend.buckets[-1]
    console.print(
        f"[bold]driftscan trend[/] · {len(trend.buckets)} point(s) by {trend.by} · "
        f"{first.label} ({first.at:%Y-%m-%d}) → {last.label} ({last.at:%Y-%m-%d})"
        + (f" · {escape(trend.scope)}" if trend.scope else "")
    )
    for dimension, group in groupby(trend.series, key=lambda s: s.dimension):
        table = Table(title=dimension, title_justify="left", title_style="bold", expand=False)
        table.add_column(label)
        table.add_column("trend", no_wrap=True)
        table.add_column("first", justify="right")
        table.add_column("last", justify="right")
        table.add_column("change", justify="right")
        table.add_column("share" if label == "value" else "per repo", justify="right")
        for series in group:
            table.add_row(
                series.value,
                Text(sparkline([p.repos for p in series.points]), style="cyan"),
                str(series.first.repos),
                str(series.last.repos),
                _change(series),
                f"{series.last.share:.0%}" if label == "value" else f"{series.last.share:.2f}",
            )
        console.print(table)
    if changes is not None:
        for title, found in (("new", changes.new), ("fixed", changes.fixed)):
            console.print(f"[bold]{len(found)} {title} since {changes.since}[/]")
            for f in found[:CHANGES_CAP]:
                console.print(
                    f"  {f.severity:<6} {f.repo}  {f.dimension} {f.kind} {f.value}", markup=False
                )
            if len(found) > CHANGES_CAP:
                console.print(f"  …and {len(found) - CHANGES_CAP} more (--format json lists all)")
        if changes.open:
            console.print(f"[bold]{len(changes.open)} open, oldest first[/]")
            for o in changes.open[:CHANGES_CAP]:
                f = o.finding
                console.print(
                    f"  {o.first_seen:%Y-%m-%d} ({o.days:>4} d)  {f.severity:<6} {f.repo}  "
                    f"{f.dimension} {f.kind} {f.value}",
                    markup=False,
                )
            if len(changes.open) > CHANGES_CAP:
                rest = len(changes.open) - CHANGES_CAP
                console.print(f"  …and {rest} more (--format json lists all)")


def rows(trend: Trend) -> list[dict[str, Any]]:
    """One row per series and bucket: the shape CSV and JSON share."""
    return [
        {
            "bucket": bucket.label,
            "scan_id": bucket.scan_id,
            "at": bucket.at.isoformat(timespec="seconds") + "Z",
            "dimension": series.dimension,
            "value": series.value,
            "repos": point.repos,
            "seen": bucket.seen,
            "share": round(point.share, 4),
        }
        for series in trend.series
        for bucket, point in zip(trend.buckets, series.points, strict=True)
    ]


def render_csv(trend: Trend) -> str:
    out = io.StringIO()
    fields = ["bucket", "scan_id", "at", "dimension", "value", "repos", "seen", "share"]
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows(trend))
    return out.getvalue()


def _finding(f: Finding) -> dict[str, str]:
    return {
        "repo": f.repo,
        "dimension": f.dimension,
        "kind": f.kind,
        "value": f.value,
        "severity": f.severity,
        "fingerprint": f.fingerprint,
        "message": f.message,
    }


def render_json(
    trend: Trend, changes: FindingChanges | None = None, goals: Sequence[GoalProgress] = ()
) -> str:
    document: dict[str, Any] = {
        "schema": TREND_SCHEMA,
        "by": trend.by,
        "scope": trend.scope or None,
        "buckets": [
            {
                "label": b.label,
                "scan_id": b.scan_id,
                "at": b.at.isoformat(timespec="seconds") + "Z",
                "seen": b.seen,
            }
            for b in trend.buckets
        ],
        "series": [
            {
                "dimension": s.dimension,
                "value": s.value,
                "repos": [p.repos for p in s.points],
                "share": [round(p.share, 4) for p in s.points],
            }
            for s in trend.series
        ],
    }
    if goals:
        document["goals"] = [_goal(g) for g in goals]
    if changes is not None:
        document["changes"] = {
            "since": changes.since,
            "new": [_finding(f) for f in changes.new],
            "fixed": [_finding(f) for f in changes.fixed],
            "open": [
                {
                    **_finding(o.finding),
                    "first_seen": o.first_seen.isoformat(timespec="seconds") + "Z",
                    "days": o.days,
                }
                for o in changes.open
            ],
        }
    return json.dumps(document, indent=2) + "\n"


def render_markdown(
    trend: Trend,
    changes: FindingChanges | None = None,
    goals: Sequence[GoalProgress] = (),
    label: str = "value",
) -> str:
    if not trend.buckets:
        return "### driftscan trend\n\nNo complete scan in the period.\n"
    first, last = trend.buckets[0], trend.buckets[-1]
    lines = [
        f"### driftscan trend: {first.label} → {last.label} (by {trend.by})"
        + (f" · {trend.scope}" if trend.scope else ""),
        "",
        f"| dimension | {label} | trend | first | last | change | "
        f"{'share' if label == 'value' else 'per repo'} |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for s in trend.series:
        spark = sparkline([p.repos for p in s.points])
        share = f"{s.last.share:.0%}" if label == "value" else f"{s.last.share:.2f}"
        lines.append(
            f"| `{s.dimension}` | `{s.value}` | {spark} | {s.first.repos} | {s.last.repos} "
            f"| {_change(s)} | {share} |"
        )
    if goals:
        lines += ["", "| goal | by | now | status |", "|---|---|---:|---|"]
        lines += [
            f"| {g.goal.text} | {g.goal.by_text} | {_now(g)} | {goal_status(g)} |" for g in goals
        ]
    if changes is not None:
        for title, found in (("new", changes.new), ("fixed", changes.fixed)):
            lines += ["", f"**{len(found)} {title} since {changes.since}**"]
            lines += [
                f"- {f.severity} `{f.repo}` {f.dimension} {f.kind} `{f.value or '—'}`"
                for f in found[:CHANGES_CAP]
            ]
            if len(found) > CHANGES_CAP:
                lines.append(f"- …and {len(found) - CHANGES_CAP} more")
        if changes.open:
            lines += ["", f"**{len(changes.open)} open, oldest first**"]
            lines += [
                f"- since {o.first_seen:%Y-%m-%d} ({o.days} d) {o.finding.severity} "
                f"`{o.finding.repo}` {o.finding.dimension} {o.finding.kind} "
                f"`{o.finding.value or '—'}`"
                for o in changes.open[:CHANGES_CAP]
            ]
            if len(changes.open) > CHANGES_CAP:
                lines.append(f"- …and {len(changes.open) - CHANGES_CAP} more")
    return "\n".join(lines) + "\n"
