"""`driftscan report --format html`: one self-contained HTML file.

Pure rendering of data computed elsewhere (html_runner.py gathers it from the store): a header
with summary cards, divergence per dimension, trends over the stored scans (values, findings,
goals), duplicated effort, and one row per repository. Charts (html_charts.py) are pygal SVG
inlined in the page, with pygal's script removed, so nothing is fetched and nothing needs
JavaScript; every chart has a `<figcaption>`, an accessible title and description, and a data
table that says the same in text. The only script is a small filter for the inventory, and
the page reads the same without it. Every string from scanned data goes through `html.escape`
(or, inside the charts, through the XML serializer).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from itertools import groupby
from typing import Any

import pygal

from driftscan.engine.analyse import CORE_CATEGORIES, Divergence, values_by_category
from driftscan.engine.trend import NONE_VALUE, FindingChanges, GoalProgress, Trend
from driftscan.models import Outcome, RepoResult, RepoStatus, ScanSummary
from driftscan.reports.effort import EffortReport
from driftscan.reports.html_charts import (
    GREY,
    OTHER,
    PALETTE,
    TARGET,
    Charts,
    chart_config,
    chart_style,
    horizontal_bars,
    muted,
    nice_ticks,
    series_colors,
)
from driftscan.reports.trend import goal_status

TOP_VALUES = 8  # bars or lines per chart; the rest are summed up as "other" or left to the table
TOP_EFFORT = 10  # ranked items charted and listed
TOP_ROWS = 25  # clusters and drifting tools listed
TOP_MEMBERS = 40  # repositories listed per cluster
TOP_CHANGES = 10  # new and fixed findings listed
TOP_SOURCES = 3  # scan sources in the header (all of them in a <details>, up to MAX_SOURCES)
MAX_SOURCES = 200
CATEGORY_TITLES = {"ci": "CI", "deploy": "Deploy", "secrets": "Secrets", "monitoring": "Monitoring"}


@dataclass(frozen=True)
class HtmlReportData:
    """Everything the page shows, computed beforehand (see html_runner.build_html_data)."""

    scan: ScanSummary
    divergences: Sequence[Divergence]
    trends: Trend  # repositories per dimension and value over the stored scans
    finding_trend: Trend  # failing findings per dimension and kind over the same scans
    goals: Sequence[GoalProgress] = ()
    effort: EffortReport | None = None
    changes: FindingChanges | None = None  # failing findings new / fixed since the first point
    generated_at: str = ""
    tool_version: str = ""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _pct(share: float) -> str:
    return f"{share:.0%}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def _table(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    caption: str = "",
    numeric: Sequence[int] = (),
    cls: str = "",
) -> str:
    """A table; `rows` hold raw values (escaped here) or `_Raw` markup."""
    out = [f'<table class="{esc(cls)}">' if cls else "<table>"]
    if caption:
        out.append(f"<caption>{esc(caption)}</caption>")
    out.append(
        "<thead><tr>"
        + "".join(
            f'<th scope="col"{" class=num" if i in numeric else ""}>{esc(h)}</th>'
            for i, h in enumerate(headers)
        )
        + "</tr></thead><tbody>"
    )
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            attrs = " class=num" if i in numeric else ""
            text = cell.markup if isinstance(cell, _Raw) else esc(cell)
            tag = "th" if i == 0 else "td"
            scope = ' scope="row"' if i == 0 else ""
            cells.append(f"<{tag}{scope}{attrs}>{text}</{tag}>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return '<div class="table-wrap">' + "".join(out) + "</div>"


@dataclass(frozen=True)
class _Raw:
    """Markup already escaped."""

    markup: str


def _legend(labels: Sequence[str]) -> str:
    """The series' names and colours in HTML: it wraps with the page and stays sharp."""
    items = "".join(
        f'<li><span class="swatch{" dashed" if label == TARGET else ""}" '
        f'style="--c:{color}" aria-hidden="true"></span>{esc(label)}</li>'
        for label, color in zip(labels, series_colors(labels), strict=True)
    )
    return f'<ul class=legend aria-label="Legend">{items}</ul>'


def _figure(
    title: str, svg: str, note: str, table: str, fig_id: str, legend: Sequence[str] = ()
) -> str:
    return (
        f'<figure id="{esc(fig_id)}">'
        f"<figcaption><span class=fig-title>{esc(title)}</span>"
        + (f" <span class=note>{esc(note)}</span>" if note else "")
        + "</figcaption>"
        f'<div class="chart-box">{svg}</div>'
        + (_legend(legend) if legend else "")
        + f"<details><summary>Data table: {esc(title)}</summary>{table}</details>"
        "</figure>"
    )


# -- header --------------------------------------------------------------------------------


def _header(data: HtmlReportData) -> str:
    scan = data.scan
    repos = scan.repos
    errors = sum(r.status is RepoStatus.ERROR for r in repos)
    empty = sum(r.status is RepoStatus.EMPTY for r in repos)
    with_problems = sum(bool(r.problems) or not r.complete for r in repos)
    problems = sum(len(r.problems) for r in repos)
    failing = [
        f
        for f in (data.effort.findings if data.effort else ())
        if f.outcome is Outcome.FAIL and f.waiver is None
    ]
    sources = scan.sources
    shown = ", ".join(sources[:TOP_SOURCES]) + (
        f" and {len(sources) - TOP_SOURCES} more" if len(sources) > TOP_SOURCES else ""
    )
    meta = [
        ("status", scan.status),
        ("started", scan.started_at),
        ("finished", scan.finished_at or "—"),
        ("source", shown or "—"),
        ("ruleset", scan.ruleset_digest[:8]),
    ]
    if data.generated_at:
        meta.append(("report generated", data.generated_at))
    out = [
        "<header>",
        f"<h1>driftscan report <span class=scan-id>scan #{scan.id}</span></h1>",
        "<dl class=meta>",
        *(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in meta),
        "</dl>",
    ]
    if scan.note:
        out.append(f"<p class=warn>{esc(scan.note)}</p>")
    if len(sources) > TOP_SOURCES:
        items = "".join(f"<li>{esc(s)}</li>" for s in sources[:MAX_SOURCES])
        more = (
            f"<li>… and {len(sources) - MAX_SOURCES} more</li>"
            if len(sources) > MAX_SOURCES
            else ""
        )
        out.append(
            f"<details class=sources><summary>All {len(sources)} sources</summary>"
            f"<ul>{items}{more}</ul></details>"
        )
    effort = data.effort
    cards = [
        ("repositories scanned", f"{len(repos) - errors}", f"of {len(repos)}"),
        (
            "could not be scanned",
            f"{errors}",
            f"{empty} empty" if empty else "errors are recorded",
        ),
        ("file problems", f"{problems}", f"in {with_problems} repositories"),
        (
            "dimensions",
            f"{len(data.divergences)}",
            f"{sum(d.distinct for d in data.divergences)} values in use",
        ),
        ("failing findings", f"{len(failing)}", "policy or org norm, unwaived"),
        (
            "copied-file clusters",
            f"{len(effort.clusters) if effort else 0}",
            f"{len(effort.drift) if effort else 0} tools at several versions",
        ),
        (
            "scans in history",
            f"{len(data.trends.buckets)}",
            "complete scans charted",
        ),
    ]
    out.append('<ul class=cards aria-label="Summary">')
    out += [
        f"<li><span class=card-value>{esc(value)}</span>"
        f"<span class=card-label>{esc(label)}</span>"
        f"<span class=card-note>{esc(note)}</span></li>"
        for label, value, note in cards
    ]
    out.append("</ul>")
    out.append(
        "<nav aria-label=Sections><ul>"
        '<li><a href="#divergence">Divergence</a></li>'
        '<li><a href="#trends">Trends</a></li>'
        '<li><a href="#effort">Duplicated effort</a></li>'
        '<li><a href="#inventory">Repositories</a></li>'
        "</ul></nav>"
    )
    out.append("</header>")
    return "\n".join(out)


# -- divergence ----------------------------------------------------------------------------


def _other_repos(repos: Sequence[RepoResult], dimension: str, values: set[str]) -> int:
    """Repositories using any of `values`: one repository may hold several values."""
    return sum(
        1
        for r in repos
        if r.status is not RepoStatus.ERROR and values.intersection(r.values(dimension))
    )


def divergence_bars(d: Divergence, repos: Sequence[RepoResult]) -> list[tuple[str, int, float]]:
    """The bars of one dimension's chart: the top values, "other" for the rest (repositories
    using any of them), then "(none)"."""
    bars = [(v.value, v.repos, v.share) for v in d.values[:TOP_VALUES]]
    rest = d.values[TOP_VALUES:]
    if rest:
        n = _other_repos(repos, d.dimension, {v.value for v in rest})
        bars.append((f"{OTHER} ({len(rest)} values)", n, n / d.seen if d.seen else 0.0))
    if d.seen:
        bars.append((NONE_VALUE, d.none, d.none / d.seen))
    return bars


def _divergence(data: HtmlReportData, charts: Charts) -> str:
    out = [
        '<section id="divergence" aria-labelledby="divergence-h">',
        '<h2 id="divergence-h">Divergence</h2>',
        "<p class=lead>Per dimension: how many repositories use each value in this scan. A "
        "repository may use several values of one dimension, so the bars can add up to more "
        "than the repositories read. Entropy: 0 = every repository agrees, 1 = evenly split."
        "</p>",
        "<div class=grid>",
    ]
    for d in data.divergences:
        bars = divergence_bars(d, data.scan.repos)
        title = f"{d.title} ({d.dimension})"
        dominant = (
            f"dominant {d.dominant.value} {_pct(d.dominant_share)}" if d.dominant else "no value"
        )
        summary = f"{d.distinct} distinct · {dominant} · entropy {d.entropy:.2f}"
        if d.unknown:
            summary += f" · {d.unknown} could not be scanned"
        if not bars:
            out.append(
                f'<figure id="div-{_slug(d.dimension)}"><figcaption>'
                f"<span class=fig-title>{esc(title)}</span></figcaption>"
                "<p>No repository could be read.</p></figure>"
            )
            continue
        chart = horizontal_bars(len(bars), max(n for _, n, _ in bars), "repositories", "value")
        ordered = list(reversed(bars))  # pygal draws the first label at the bottom
        chart.x_labels = [label for label, _, _ in ordered]
        chart.add(
            "repositories",
            [
                {"value": n, "color": GREY if muted(label) else PALETTE[0]}
                for label, n, _ in ordered
            ],
        )
        description = (
            f"Horizontal bar chart of repositories per value for {d.dimension}, "
            f"{d.seen} repositories read: "
            + "; ".join(f"{label} {n} ({_pct(share)})" for label, n, share in bars)
            + "."
        )
        rows: list[list[object]] = [[v.value, v.repos, _pct(v.share)] for v in d.values]
        if d.seen:
            rows.append([NONE_VALUE, d.none, _pct(d.none / d.seen)])
        if d.unknown:
            rows.append(["(unknown: not scanned)", d.unknown, ""])
        note = summary
        if len(d.values) > TOP_VALUES:
            note += f" · chart: top {TOP_VALUES} values, the table lists all"
        table = _table(
            ["value", "repositories", "share"],
            rows,
            caption=f"{d.dimension}: repositories per value, of {d.seen} read",
            numeric=(1, 2),
        )
        out.append(
            _figure(
                title,
                charts.svg(chart, title, description, "hbar"),
                note,
                table,
                _slug(d.dimension),
            )
        )
    out += ["</div>", "</section>"]
    return "\n".join(out)


# -- trends --------------------------------------------------------------------------------


def _point_label(trend: Trend, index: int) -> str:
    bucket = trend.buckets[index]
    if trend.by == "scan":
        return f"{bucket.at:%Y-%m-%d} {bucket.label}"
    return bucket.label


def _line_chart(
    trend: Trend,
    series: Sequence[tuple[str, Sequence[float]]],
    y_title: str,
    formatter: Callable[[float], str],
    integer: bool = False,
    target: Sequence[float] = (),
) -> Any:
    points = len(trend.buckets)
    labels = [label for label, _ in series] + ([TARGET] if target else [])
    high = max([v for _, values in series for v in values] + list(target) + [0.0])
    ticks = nice_ticks(high, integer)
    chart = pygal.Line(
        chart_config(
            height=360,
            style=chart_style(series_colors(labels)),
            x_title="scan (oldest to newest)" if trend.by == "scan" else trend.by,
            y_title=y_title,
            range=(0, ticks[-1]),
            y_labels=ticks,
            x_label_rotation=-25,  # the labels hang left of their point: the last one fits
            x_labels_major_count=min(points, 8),
            show_minor_x_labels=points <= 8,
            show_dots=points <= 20,
            dots_size=3.5,
            value_formatter=formatter,
        )
    )
    chart.x_labels = [_point_label(trend, i) for i in range(points)]
    for label, values in series:
        chart.add(label, list(values))
    if target:
        chart.add(
            TARGET, list(target), show_dots=False, stroke_style={"width": 2, "dasharray": "8,6"}
        )
    return chart


def _points_table(
    trend: Trend,
    columns: Sequence[tuple[str, Sequence[str]]],
    caption: str,
) -> str:
    headers = ["point", "date", "repositories read", *(label for label, _ in columns)]
    rows = [
        [b.label, f"{b.at:%Y-%m-%d %H:%M}", b.seen, *(cells[i] for _, cells in columns)]
        for i, b in enumerate(trend.buckets)
    ]
    return _table(headers, rows, caption=caption, numeric=tuple(range(2, len(headers))))


def _change(first: int, last: int) -> str:
    return f"{last - first:+d}" if last != first else "="


def _value_trends(data: HtmlReportData, charts: Charts) -> list[str]:
    trend = data.trends
    titles = {d.dimension: d.title for d in data.divergences}
    order = {d.dimension: i for i, d in enumerate(data.divergences)}
    groups = [(dim, list(group)) for dim, group in groupby(trend.series, key=lambda s: s.dimension)]
    groups.sort(key=lambda g: (order.get(g[0], len(order)), g[0]))
    out = ["<div class=grid>"]
    for dimension, group in groups:
        values = [s for s in group if s.value != NONE_VALUE]
        none = [s for s in group if s.value == NONE_VALUE]
        charted = values[:TOP_VALUES] + none
        title = f"{titles.get(dimension, dimension)} ({dimension}) over time"
        chart = _line_chart(
            trend,
            [(s.value, [p.share for p in s.points]) for s in charted],
            "share of repos read",
            _pct,
        )
        description = (
            f"Line chart of the share of repositories using each value of {dimension} over "
            f"{len(trend.buckets)} scans, from {trend.buckets[0].label} to "
            f"{trend.buckets[-1].label}: "
            + "; ".join(f"{s.value} {_pct(s.first.share)} to {_pct(s.last.share)}" for s in charted)
            + "."
        )
        table = _points_table(
            trend,
            [(s.value, [f"{p.repos} ({_pct(p.share)})" for p in s.points]) for s in charted],
            f"{dimension}: repositories (share) per value and scan",
        )
        summary = _table(
            ["value", "first", "last", "change", "share now"],
            [
                [
                    s.value,
                    s.first.repos,
                    s.last.repos,
                    _change(s.first.repos, s.last.repos),
                    _pct(s.last.share),
                ]
                for s in [*values, *none]
            ],
            caption=f"{dimension}: first and last point, every value",
            numeric=(1, 2, 3, 4),
        )
        note = f"{len(values)} values" + (
            f"; chart: top {TOP_VALUES} and (none), the tables list all"
            if len(values) > TOP_VALUES
            else ""
        )
        out.append(
            _figure(
                title,
                charts.svg(chart, title, description),
                note,
                table + summary,
                f"trend-{_slug(dimension)}",
                [s.value for s in charted],
            )
        )
    out.append("</div>")
    return out


def _finding_trends(data: HtmlReportData, charts: Charts) -> list[str]:
    trend = data.finding_trend
    if not trend.buckets or len(trend.buckets) < 2:
        return []
    kinds: dict[str, list[int]] = {}
    for s in trend.series:
        totals = kinds.setdefault(s.value, [0] * len(trend.buckets))
        for i, p in enumerate(s.points):
            totals[i] += p.repos
    if not kinds:
        return [
            "<h3>Failing findings</h3>",
            "<p>No failing finding was recorded in these scans (findings are recorded by "
            "<code>driftscan scan</code> and <code>driftscan report effort</code>).</p>",
        ]
    ordered = sorted(kinds.items(), key=lambda kv: (-kv[1][-1], -max(kv[1]), kv[0]))
    title = "Failing findings per kind over time"
    chart = _line_chart(
        trend,
        [(k, [float(n) for n in v]) for k, v in ordered],
        "failing findings",
        lambda n: f"{n:g}",
        integer=True,
    )
    description = (
        f"Line chart of failing, unwaived findings per kind over {len(trend.buckets)} scans: "
        + "; ".join(f"{k} {v[0]} to {v[-1]}" for k, v in ordered)
        + "."
    )
    table = _points_table(
        trend,
        [(k, [str(n) for n in v]) for k, v in ordered],
        "failing findings per kind and scan",
    )
    detail = _table(
        ["dimension", "kind", "first", "last", "change"],
        [
            [
                s.dimension,
                s.value,
                s.first.repos,
                s.last.repos,
                _change(s.first.repos, s.last.repos),
            ]
            for s in trend.series
        ],
        caption="per dimension and kind, first and last point",
        numeric=(2, 3, 4),
    )
    out = [
        "<h3>Failing findings</h3>",
        "<div class=grid>",
        _figure(
            title,
            charts.svg(chart, title, description),
            "findings against the policy or the org norm, as recorded with each scan",
            table + detail,
            "trend-findings",
            [k for k, _ in ordered],
        ),
    ]
    if data.changes is not None:
        out.append(_changes(data.changes))
    out.append("</div>")
    return out


def _changes(changes: FindingChanges) -> str:
    parts = ["<div class=panel>"]
    for title, found in (("New", changes.new), ("Fixed", changes.fixed)):
        parts.append(f"<h4>{title} since {esc(changes.since)}: {len(found)}</h4>")
        if found:
            parts.append(
                _table(
                    ["repository", "dimension", "kind", "value", "severity"],
                    [
                        [f.repo, f.dimension, f.kind, f.value or "—", f.severity]
                        for f in found[:TOP_CHANGES]
                    ],
                )
            )
            if len(found) > TOP_CHANGES:
                parts.append(_more(len(found) - TOP_CHANGES))
    if changes.open:
        parts.append(f"<h4>Open, oldest first: {len(changes.open)}</h4>")
        parts.append(
            _table(
                ["repository", "dimension", "kind", "value", "first seen", "days"],
                [
                    [
                        o.finding.repo,
                        o.finding.dimension,
                        o.finding.kind,
                        o.finding.value or "—",
                        f"{o.first_seen:%Y-%m-%d}",
                        o.days,
                    ]
                    for o in changes.open[:TOP_CHANGES]
                ],
                caption="open findings: failing now, with the day a stored scan first saw each",
                numeric=(5,),
            )
        )
        if len(changes.open) > TOP_CHANGES:
            parts.append(_more(len(changes.open) - TOP_CHANGES))
    parts.append("</div>")
    return "".join(parts)


def _more(count: int) -> str:
    return (
        f"<p class=note>… and {count} more "
        "(<code>driftscan trend --findings --format json</code> lists all)</p>"
    )


def _goal_amount(progress: GoalProgress, point: float) -> str:
    return _pct(point) if progress.goal.share else f"{point:g} repos"


def _goals(data: HtmlReportData, charts: Charts) -> list[str]:
    if not data.goals:
        return []
    trend = data.trends
    rows = [
        [
            g.goal.text,
            "goal" if g.goal.by else "policy target",
            g.goal.by_text,
            "—" if g.current is None else _goal_amount(g, g.current),
            goal_status(g),
        ]
        for g in data.goals
    ]
    out = [
        "<h3>Goals and policy targets</h3>",
        "<p class=lead>The policy's dated goals, and what its rules imply (each forbidden value "
        "down to 0 repositories, the preferred one up to all of them, undated). The estimate "
        "extends the straight line through the first and the last point.</p>",
        _table(
            ["goal", "source", "by", "now", "status"],
            rows,
            caption="goals and policy targets from the policy file",
            cls="goals",
        ),
    ]
    dated = [g for g in data.goals if g.goal.by is not None]
    if len(trend.buckets) < 2 or not dated:
        return out
    out.append("<div class=grid>")
    for g in dated:  # the policy's implied targets are many: the table has them
        series = next(
            (s for s in trend.series if (s.dimension, s.value) == (g.goal.dimension, g.goal.value)),
            None,
        )
        points = series.points if series else ()
        if g.goal.share:
            now = [p.share for p in points] or [0.0] * len(trend.buckets)
            formatter: Callable[[float], str] = _pct
            y_title = "share of repos read"
        else:
            now = [float(p.repos) for p in points] or [0.0] * len(trend.buckets)
            formatter = lambda n: f"{n:g}"  # noqa: E731
            y_title = "repositories"
        target = [g.goal.amount] * len(trend.buckets)
        title = f"Goal: {g.goal.text} by {g.goal.by_text}"
        chart = _line_chart(
            trend, [(g.goal.value, now)], y_title, formatter, not g.goal.share, target
        )
        description = (
            f"Line chart of {g.goal.dimension} {g.goal.value} over {len(trend.buckets)} scans "
            f"against the target ({g.goal.text}): "
            f"{formatter(now[0])} to {formatter(now[-1])}; {goal_status(g)}."
        )
        table = _points_table(
            trend,
            [(g.goal.value, [formatter(v) for v in now]), (TARGET, [formatter(v) for v in target])],
            f"{g.goal.text}: value and target per scan",
        )
        out.append(
            _figure(
                title,
                charts.svg(chart, title, description),
                goal_status(g),
                table,
                f"goal-{_slug(g.goal.text)}",
                [g.goal.value, TARGET],
            )
        )
    out.append("</div>")
    return out


def _trends(data: HtmlReportData, charts: Charts) -> str:
    trend = data.trends
    out = [
        '<section id="trends" aria-labelledby="trends-h">',
        '<h2 id="trends-h">Trends</h2>',
    ]
    if len(trend.buckets) < 2:
        out.append(
            "<p class=lead>Trends need more scans: the database holds "
            f"{len(trend.buckets)} complete scan{'' if len(trend.buckets) == 1 else 's'} up to "
            "this one. Scan again later (for example nightly) and this section charts how each "
            "value moves.</p>"
        )
        out += _goals(data, charts)
        out.append("</section>")
        return "\n".join(out)
    first, last = trend.buckets[0], trend.buckets[-1]
    out.append(
        f"<p class=lead>{len(trend.buckets)} complete scans, {esc(first.label)} "
        f"({first.at:%Y-%m-%d}) to {esc(last.label)} ({last.at:%Y-%m-%d}). Share is of the "
        "repositories each scan read; <code>(none)</code> is the repositories with no value "
        "for the dimension.</p>"
    )
    out += _value_trends(data, charts)
    out += _finding_trends(data, charts)
    out += _goals(data, charts)
    out.append("</section>")
    return "\n".join(out)


# -- duplicated effort ---------------------------------------------------------------------


KIND_COLORS = {"cluster": PALETTE[0], "drift": PALETTE[1], "divergence": PALETTE[2]}


def _short(text: str, size: int = 48) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def _brief(title: str) -> str:
    """A ranked item's title for a chart label: "helm-chart in 6 repos (6 copies, …)"."""
    return title.replace(" copied into ", " in ").replace(" repositories", " repos")


def _effort(data: HtmlReportData, charts: Charts) -> str:
    out = [
        '<section id="effort" aria-labelledby="effort-h">',
        '<h2 id="effort-h">Duplicated effort</h2>',
    ]
    report = data.effort
    if report is None or not (report.ranked or report.clusters or report.drift):
        out.append(
            "<p class=lead>No duplicated effort found: no infrastructure file is copied "
            "between repositories, no tool is used at several versions and no dimension has "
            "several values in use.</p></section>"
        )
        return "\n".join(out)
    out.append(
        "<p class=lead>Where teams solve the same infrastructure problem separately, ranked by "
        "an effort score whose arithmetic is shown: copied files (repositories × variants × "
        "lines), one tool at several versions (repositories × versions) and several tools for "
        "one job (repositories off the dominant value × values).</p>"
    )
    top = report.ranked[:TOP_EFFORT]
    if top:
        labels = [f"{i}. {_short(_brief(item.title))}" for i, item in enumerate(top, 1)]
        high = max(item.score for item in top)
        chart = horizontal_bars(len(top), high, "effort score", "source", width=900)
        chart.x_labels = list(reversed(labels))
        chart.add(
            "effort score",
            [
                {"value": item.score, "color": KIND_COLORS.get(item.kind, GREY)}
                for item in reversed(top)
            ],
        )
        title = f"Top {len(top)} sources of duplicated effort"
        description = (
            "Horizontal bar chart of effort scores: "
            + "; ".join(f"{i}. {item.title}: {item.score}" for i, item in enumerate(top, 1))
            + "."
        )
        table = _table(
            ["#", "kind", "what", "score"],
            [[i, item.kind, item.title, item.score] for i, item in enumerate(top, 1)],
            caption="effort score per source, highest first",
            numeric=(0, 3),
        )
        out.append(
            _figure(
                title,
                charts.svg(chart, title, description, "hbar"),
                "bar colour: blue = copied files, orange = version drift, green = divergence",
                table,
                "effort-ranking",
            )
        )
        out.append("<h3>Ranking and arithmetic</h3>")
        out.append(
            _table(
                ["#", "kind", "what", "score", "why the score"],
                [
                    [i, item.kind, item.title, item.score, item.explanation]
                    for i, item in enumerate(top, 1)
                ],
                numeric=(0, 3),
                cls="ranked",
            )
        )
        if len(report.ranked) > TOP_EFFORT:
            out.append(
                f"<p class=note>{len(report.ranked) - TOP_EFFORT} more sources: "
                "<code>driftscan report effort --format csv</code> lists all.</p>"
            )
    out.append("<h3>Copied infrastructure files</h3>")
    if report.clusters:
        rows = []
        for c in report.clusters[:TOP_ROWS]:
            canonical = c.canonical.copies[0]
            members = [f"{copy.repo}:{copy.path}" for v in c.variants for copy in v.copies]
            shown = "".join(f"<li>{esc(m)}</li>" for m in members[:TOP_MEMBERS])
            if len(members) > TOP_MEMBERS:
                shown += f"<li>… and {len(members) - TOP_MEMBERS} more</li>"
            teams = sorted(
                {o for r in c.repos for o in report.owners.get(r, ()) if o.startswith("@")}
            )
            rows.append(
                [
                    c.kind,
                    f"{c.copies} / {len(c.variants)}",
                    c.score,
                    f"{canonical.repo}:{canonical.path} ({c.canonical.lines} lines)",
                    _Raw(
                        f"<details><summary>{len(c.repos)} repositories</summary>"
                        f"<ul class=members>{shown}</ul></details>"
                    ),
                    ", ".join(teams) or "—",
                    c.absorber,
                ]
            )
        out.append(
            _table(
                [
                    "kind",
                    "copies / variants",
                    "score",
                    "canonical variant",
                    "members",
                    "teams",
                    "absorb with",
                ],
                rows,
                numeric=(2,),
                cls="clusters",
            )
        )
        if len(report.clusters) > TOP_ROWS:
            out.append(
                f"<p class=note>{len(report.clusters) - TOP_ROWS} more clusters: "
                "<code>driftscan report effort --format json</code> lists all.</p>"
            )
    else:
        out.append("<p>No infrastructure file is copied between repositories.</p>")
    out.append("<h3>Version drift</h3>")
    if report.drift:
        out.append(
            _table(
                ["tool", "kind", "repositories", "versions (repositories)"],
                [
                    [
                        s.tool,
                        s.kind,
                        s.repos,
                        ", ".join(f"{v} ({len(r)})" for v, r in s.versions[:8])
                        + (f", +{len(s.versions) - 8} more" if len(s.versions) > 8 else ""),
                    ]
                    for s in report.drift[:TOP_ROWS]
                ],
                numeric=(2,),
                cls="drift",
            )
        )
        if len(report.drift) > TOP_ROWS:
            out.append(f"<p class=note>{len(report.drift) - TOP_ROWS} more tools.</p>")
    else:
        out.append("<p>No tool is used at several versions.</p>")
    out.append("<h3>Golden path per dimension</h3>")
    out.append(
        _table(
            ["dimension", "golden path", "off path", "waived", "teams per value"],
            [
                [
                    d.dimension,
                    report.golden_path(d.dimension),
                    report.off_path(d.dimension)[0],
                    report.off_path(d.dimension)[1],
                    "; ".join(
                        f"{value}: {', '.join(teams[:4])}"
                        + (f" +{len(teams) - 4}" if len(teams) > 4 else "")
                        for value, teams in report.teams_by_value(d.dimension)[:4]
                    ),
                ]
                for d in report.divergences
            ],
            numeric=(2, 3),
        )
    )
    out.append("</section>")
    return "\n".join(out)


# -- inventory -----------------------------------------------------------------------------


def _status(repo: RepoResult) -> str:
    if repo.status is RepoStatus.ERROR:
        return f"<span class=bad>error</span>: {esc(repo.error or 'unknown')}"
    parts = [esc(repo.status.value)]
    if not repo.complete:
        parts.append("partial view")
    if repo.reused:
        parts.append("unchanged")
    text = ", ".join(parts)
    if repo.problems:
        items = "".join(
            f"<li>{esc(p.path or '(repository)')}: {esc(p.reason)}</li>" for p in repo.problems[:20]
        )
        if len(repo.problems) > 20:
            items += f"<li>… and {len(repo.problems) - 20} more</li>"
        text += (
            f"<details><summary>{len(repo.problems)} problem(s)</summary><ul>{items}</ul></details>"
        )
    return text


def _inventory(data: HtmlReportData) -> str:
    scan = data.scan
    categories = list(CORE_CATEGORIES)
    for d in data.divergences:
        if d.category not in categories:
            categories.append(d.category)
    owners = data.effort.owners if data.effort else {}
    headers = ["repository", *(CATEGORY_TITLES.get(c, c) for c in categories), "teams", "status"]
    rows = []
    for repo in scan.repos:
        columns = values_by_category(repo, categories)
        cells = [
            "<br>".join(esc(v) for v in columns[c]) or "<span class=dim>—</span>"
            for c in categories
        ]
        teams = ", ".join(esc(o) for o in owners.get(repo.name, repo.owners)) or (
            "<span class=dim>—</span>"
        )
        cls = ' class="err"' if repo.status is RepoStatus.ERROR else ""
        rows.append(
            f"<tr{cls}><th scope=row>{esc(repo.name)}</th>"
            + "".join(f"<td>{c}</td>" for c in cells)
            + f"<td>{teams}</td><td>{_status(repo)}</td></tr>"
        )
    return "\n".join(
        [
            '<section id="inventory" aria-labelledby="inventory-h">',
            '<h2 id="inventory-h">Repositories</h2>',
            f"<p class=lead>{len(scan.repos)} repositories, their values per category, owners "
            "(CODEOWNERS, else the policy's owners map) and how far their scan got.</p>",
            '<div id="inventory-filter-box" class="filter" hidden>'
            '<label for="inventory-filter">Filter repositories</label> '
            '<input id="inventory-filter" type="search" autocomplete="off" '
            'placeholder="name, value or team">'
            ' <output id="inventory-count" aria-live="polite"></output></div>',
            '<div class="table-wrap">',
            '<table id="inventory-table" class="inventory">',
            "<thead><tr>"
            + "".join(f'<th scope="col">{esc(h)}</th>' for h in headers)
            + "</tr></thead>",
            "<tbody>",
            *rows,
            "</tbody></table></div>",
            "</section>",
        ]
    )


# -- page ----------------------------------------------------------------------------------

# The page's style and its one script (the inventory filter) ship as package files.
_ASSETS = resources.files("driftscan.reports") / "assets"
CSS = (_ASSETS / "report.css").read_text(encoding="utf-8")
SCRIPT = (_ASSETS / "filter.js").read_text(encoding="utf-8")


def render(data: HtmlReportData) -> str:
    """The whole page as one string: inline CSS, inline SVG, one small inline script."""
    charts = Charts()
    scan = data.scan
    body = [
        _header(data),
        "<main>",
        _divergence(data, charts),
        _trends(data, charts),
        _effort(data, charts),
        _inventory(data),
        "</main>",
        "<footer>Generated by driftscan"
        + (f" {esc(data.tool_version)}" if data.tool_version else "")
        + (f" at {esc(data.generated_at)}" if data.generated_at else "")
        + ". A self-contained file: no network is needed to read it; every chart has a data "
        "table under it. Credentials are never shown, only where they were found.</footer>",
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light dark">\n'
        f"<title>driftscan report — scan #{scan.id}</title>\n"
        f"<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + f"\n<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )
