"""The HTML report: well-formed, self-contained, escaped, and its tables say what the charts
show, with the numbers of a real history of the demo org."""

from __future__ import annotations

import re
from datetime import datetime
from html.parser import HTMLParser

import pytest

from driftscan.engine.analyse import divergence
from driftscan.engine.effort import Cluster, Copy, Variant, VersionSpread, rank
from driftscan.engine.policy import load_policy
from driftscan.engine.rules import Ruleset
from driftscan.engine.trend import ScanPoint, ValueCount, trend
from driftscan.html_runner import build_html_data
from driftscan.models import (
    Evidence,
    Fact,
    Problem,
    RepoMeta,
    RepoResult,
    RepoStatus,
    ScanSummary,
)
from driftscan.reports.effort import EffortReport
from driftscan.reports.html import HtmlReportData, divergence_bars, render
from driftscan.reports.html_charts import nice_ticks
from driftscan.store.queries import Store
from tests.reports.conftest import DemoHistory

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
URL_ATTRIBUTES = {"src", "href", "xlink:href", "action", "formaction", "poster", "data", "srcset"}


class Page(HTMLParser):
    """Checks that every element is closed in order, and collects the tables (caption, then
    rows of cell texts), the attributes and the tags seen."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.tables: list[dict[str, object]] = []
        self._table: list[dict[str, object]] = []
        self._cell: list[str] | None = None
        self._caption: list[str] | None = None
        self.feed(text)
        self.close()
        if self.stack:
            self.errors.append(f"not closed: {self.stack}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "table":
            self._table.append({"caption": "", "rows": [], "id": dict(attrs).get("id")})
        elif tag == "tr" and self._table:
            self._table[-1]["rows"].append([])  # type: ignore[attr-defined]
        elif tag in ("td", "th") and self._table:
            self._cell = []
        elif tag == "caption":
            self._caption = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        if tag in ("td", "th") and self._cell is not None and self._table:
            self._table[-1]["rows"][-1].append("".join(self._cell).strip())  # type: ignore[index]
            self._cell = None
        elif tag == "caption" and self._caption is not None:
            self._table[-1]["caption"] = "".join(self._caption).strip()
            self._caption = None
        elif tag == "table":
            self.tables.append(self._table.pop())

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._caption is not None:
            self._caption.append(data)

    def table(self, caption: str) -> list[list[str]]:
        """Rows (header row first) of the table whose caption starts with `caption`."""
        found = [t for t in self.tables if str(t["caption"]).startswith(caption)]
        assert len(found) == 1, f"{len(found)} tables captioned {caption!r}"
        return found[0]["rows"]  # type: ignore[return-value]

    def column(self, caption: str, header: str) -> dict[str, str]:
        """First cell -> the cell under `header`."""
        rows = self.table(caption)
        index = rows[0].index(header)
        return {row[0]: row[index] for row in rows[1:]}


@pytest.fixture(scope="module")
def report(demo_history: DemoHistory, ruleset: Ruleset) -> tuple[HtmlReportData, str]:
    store = Store(demo_history.db)
    policy = load_policy(demo_history.policy, ruleset.rules)
    data = build_html_data(store, store.load_scan(), ruleset, policy)
    return data, render(data)


@pytest.fixture(scope="module")
def page(report: tuple[HtmlReportData, str]) -> Page:
    return Page(report[1])


def test_well_formed_with_every_section(report: tuple[HtmlReportData, str], page: Page) -> None:
    _, text = report
    assert page.errors == []
    assert text.startswith("<!DOCTYPE html>")
    ids = {attrs.get("id") for _, attrs in page.tags}
    assert {"divergence", "trends", "effort", "inventory", "inventory-table"} <= ids
    assert "driftscan report" in text and "scan #3" in text
    scripts = [tag for tag, _ in page.tags if tag == "script"]
    assert len(scripts) == 1  # the inventory filter; pygal's own scripts are removed


def test_charts_are_accessible_figures(page: Page) -> None:
    svgs = [attrs for tag, attrs in page.tags if tag == "svg"]
    # 4 divergence bars, 4 value trends, findings, 2 goals, the effort ranking
    assert len(svgs) == 12
    for attrs in svgs:
        assert attrs["role"] == "img"
        title_id, desc_id = str(attrs["aria-labelledby"]).split()
        assert title_id.endswith("-title") and desc_id.endswith("-desc")
    assert sum(tag == "figure" for tag, _ in page.tags) == 12
    assert sum(tag == "figcaption" for tag, _ in page.tags) == 12
    assert sum(tag == "details" for tag, _ in page.tags) >= 12


def test_self_contained(report: tuple[HtmlReportData, str], page: Page) -> None:
    _, text = report
    for tag, attrs in page.tags:
        assert tag not in ("link", "iframe", "img", "object", "embed"), tag
        for name, value in attrs.items():
            if name in URL_ATTRIBUTES:
                assert value is not None and value.startswith("#"), (tag, name, value)
    without_namespaces = re.sub(r'\sxmlns(:\w+)?="[^"]*"', "", text)
    assert not re.search(r"https?:|//[a-z]", without_namespaces, re.I)
    assert "@import" not in text and "url(" not in text


def test_divergence_tables_match_the_scan(report: tuple[HtmlReportData, str], page: Page) -> None:
    data, _ = report
    ci = page.table("ci.system: repositories per value")
    assert ci[0] == ["value", "repositories", "share"]
    # legacy-billing moved from Travis to GitHub Actions before scan #2
    assert ci[1:] == [
        ["github-actions", "21", "70%"],
        ["jenkins", "4", "13%"],
        ["circleci", "2", "7%"],
        ["gitlab-ci", "2", "7%"],
        ["(none)", "2", "7%"],
    ]
    for d in data.divergences:
        rows = page.column(f"{d.dimension}: repositories per value", "repositories")
        assert {v.value: str(v.repos) for v in d.values}.items() <= rows.items()
    deploy = next(d for d in data.divergences if d.dimension == "deploy.method")
    bars = divergence_bars(deploy, data.scan.repos)
    assert len(bars) == 10  # 8 values, "other (5 values)", "(none)"
    assert bars[8][0] == "other (5 values)" and bars[8][1] == 5  # five repos, one value each


def test_trend_tables(page: Page) -> None:
    ci = page.table("ci.system: repositories (share) per value and scan")
    assert ci[0][:5] == ["point", "date", "repositories read", "github-actions", "jenkins"]
    github = page.column("ci.system: repositories (share) per value and scan", "github-actions")
    assert list(github.values()) == ["20 (67%)", "21 (70%)", "21 (70%)"]
    travis = page.column("ci.system: repositories (share) per value and scan", "travis")
    assert list(travis.values()) == ["1 (3%)", "0 (0%)", "0 (0%)"]
    summary = page.table("ci.system: first and last point")
    assert ["travis", "1", "0", "-1", "0%"] in summary
    dotenv = page.column("secrets.handling: first and last point", "change")
    assert dotenv["dotenv-committed"] == "-1"


def test_findings_and_goals(report: tuple[HtmlReportData, str], page: Page) -> None:
    data = report[0]
    assert data.changes is not None
    failing_now = sum(s.last.repos for s in data.finding_trend.series)
    assert len(data.changes.open) == failing_now > 10
    rows = page.table("open findings")
    assert rows[0] == ["repository", "dimension", "kind", "value", "first seen", "days"]
    assert len(rows) == 1 + 10 and all(row[5].isdigit() for row in rows[1:])
    kinds = page.table("failing findings per kind and scan")
    assert kinds[0][:4] == ["point", "date", "repositories read", "off-norm"]
    forbidden = page.column("failing findings per kind and scan", "forbidden")
    assert list(forbidden.values()) == ["1", "0", "0"]  # the Travis file, gone in scan #2
    goals = page.column("goals and policy targets", "now")
    assert goals == {
        "ci.system github-actions >= 90%": "70%",
        "secrets.handling dotenv-committed <= 0 repos": "1 repos",
        "ci.system travis <= 0 repos": "0 repos",  # implied by `forbidden: [travis]`
    }
    assert page.column("goals and policy targets", "status")["ci.system travis <= 0 repos"] == (
        "converged"
    )
    target = page.column("ci.system github-actions >= 90%: value and target", "target (goal)")
    assert set(target.values()) == {"90%"}


def test_effort_tables(report: tuple[HtmlReportData, str], page: Page) -> None:
    data, text = report
    assert data.effort is not None
    ranked = page.table("effort score per source")
    top = data.effort.ranked[0]
    assert ranked[1] == ["1", top.kind, top.title, str(top.score)]
    assert len(ranked) == 11
    assert "Copied infrastructure files" in text and "Version drift" in text
    canonical = data.effort.clusters[0].canonical.copies[0]
    assert f"{canonical.repo}:{canonical.path}" in text
    assert data.effort.drift[0].tool in text


def test_inventory_has_one_row_per_repository(
    report: tuple[HtmlReportData, str], page: Page
) -> None:
    data, _ = report
    [inventory] = [t for t in page.tables if t["id"] == "inventory-table"]
    rows = inventory["rows"]
    assert len(rows) == 1 + len(data.scan.repos) == 31  # type: ignore[arg-type]
    legacy = next(r for r in rows if r[0] == "legacy-billing")  # type: ignore[union-attr]
    assert legacy[1] == "github-actions\njenkins"


def _repo(name: str, *facts: tuple[str, str, str]) -> RepoResult:
    return RepoResult(
        name=name,
        location=f"/org/{name}",
        meta=RepoMeta(),
        status=RepoStatus.OK,
        facts=tuple(Fact(c, d, v, (Evidence("ci.yml", 1),)) for c, d, v in facts),
    )


EVIL = "<script>alert(1)</script>"
EVIL_VALUE = '"><img src=x onerror=alert(2)>'


def _evil_data(ruleset: Ruleset, scans: int = 2, effort: bool = True) -> HtmlReportData:
    evil = RepoResult(
        name=EVIL,
        location="/org/evil",
        meta=RepoMeta(),
        status=RepoStatus.OK,
        facts=(Fact("ci", "ci.system", EVIL_VALUE, (Evidence("x", 1),)),),
        problems=(Problem("<b>p</b>", "<i>reason</i>"),),
        owners=("@team<svg onload=alert(3)>",),
    )
    repos = (evil, _repo("ok", ("ci", "ci.system", "jenkins")))
    scan = ScanSummary(1, "2026-01-01T00:00:00Z", None, "complete", "d" * 64, (EVIL,), repos)
    divergences = divergence(ruleset.rules, repos)
    points = [ScanPoint(i, datetime(2026, 1, i), 2) for i in range(1, scans + 1)]
    counts = [ValueCount(p.scan_id, "ci.system", EVIL_VALUE, 1) for p in points]
    clusters = [
        Cluster(
            "dockerfile",
            (Variant("h1", (Copy(EVIL, "<p>/Dockerfile"), Copy("ok", "Dockerfile")), 3),),
        )
    ]
    drift = [VersionSpread("action", EVIL, (("v1", (EVIL,)), (EVIL_VALUE, ("ok",))))]
    report = EffortReport(
        scan,
        rank(clusters, drift, divergences) if effort else [],
        divergences,
        drift if effort else [],
        clusters if effort else [],
        {EVIL: evil.owners},
    )
    return HtmlReportData(
        scan=scan,
        divergences=divergences,
        trends=trend(points, counts),
        finding_trend=trend(points, [ValueCount(1, "ci.system", "forbidden", 1)]),
        effort=report,
    )


def test_scanned_strings_are_escaped(ruleset: Ruleset) -> None:
    text = render(_evil_data(ruleset))
    page = Page(text)
    assert page.errors == []
    assert EVIL not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<img" not in text and "<svg onload" not in text and "<b>p</b>" not in text
    assert [tag for tag, _ in page.tags if tag == "script"] == ["script"]
    assert not any(name.startswith("on") for _, attrs in page.tags for name in attrs)
    # the charts carry the names too (labels, legends, descriptions): escaped by the serializer
    assert text.count("&lt;script&gt;alert(1)") > 5


def test_one_scan_says_trends_need_more(ruleset: Ruleset) -> None:
    text = render(_evil_data(ruleset, scans=1))
    assert "Trends need more scans" in text
    page = Page(text)
    # only the divergence bars and the effort ranking: no line chart
    assert sum(tag == "svg" for tag, _ in page.tags) == len(_evil_data(ruleset).divergences) + 1


def test_no_duplicated_effort(ruleset: Ruleset) -> None:
    text = render(_evil_data(ruleset, effort=False))
    data = _evil_data(ruleset, effort=False)
    assert data.effort is not None and not data.effort.ranked
    assert "No duplicated effort found" in text
    assert Page(text).errors == []


def test_nice_ticks() -> None:
    assert nice_ticks(21, integer=True) == [0, 5, 10, 15, 20, 25]
    assert nice_ticks(2, integer=True) == [0, 1, 2]
    assert nice_ticks(0, integer=True) == [0, 1]
    assert nice_ticks(0.77) == [0, 0.2, 0.4, 0.6, 0.8]
    assert nice_ticks(4536, integer=True)[-1] == 5000
