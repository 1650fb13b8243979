"""Gather what the HTML report shows (store -> engine -> reports.html.HtmlReportData).

The same store and engine calls as `driftscan report`, `driftscan trend` (values, findings,
goals) and `driftscan report effort`, so the page and those commands agree.
"""

from __future__ import annotations

from datetime import datetime, timezone

from driftscan import __version__
from driftscan.effort_runner import build_effort_report
from driftscan.engine.policy import Policy, policy_targets
from driftscan.engine.rules import Ruleset
from driftscan.engine.trend import FindingChanges, finding_changes, goal_progress, trend
from driftscan.models import ScanSummary
from driftscan.reports.html import HtmlReportData
from driftscan.store.queries import Store

TREND_POINTS = 52  # the last scans charted: a year of weekly scans


def build_html_data(
    store: Store,
    scan: ScanSummary,
    ruleset: Ruleset,
    policy: Policy | None = None,
    points: int = TREND_POINTS,
) -> HtmlReportData:
    """Everything the page shows for `scan`. Trends run over the stored complete scans up to
    and including it (an older scan's report does not show its future)."""
    # Like `driftscan report effort`: the findings against this policy (or the org norm) are
    # a view of this page; the findings trend and "fixed since" count what `scan` recorded.
    effort = build_effort_report(store, scan, ruleset, policy)

    scans, values, covered = store.trend_counts()
    scans = [s for s in scans if s.scan_id <= scan.id]
    values_trend = trend(scans, values, "scan", covered, last=points)

    counts = store.finding_counts([s.scan_id for s in scans])
    findings_trend = trend(scans, counts, "scan", last=points)
    changes: FindingChanges | None = None
    if len(findings_trend.buckets) > 1:
        first, newest = findings_trend.buckets[0], findings_trend.buckets[-1]
        failing = store.failing_findings(newest.scan_id)
        changes = finding_changes(
            first.label,
            store.failing_findings(first.scan_id),
            failing,
            store.first_seen(failing),
            newest.at,
        )
    # As `driftscan trend --policy`: the dated goals, then the targets the rules imply.
    targets = policy.goals + policy_targets(policy) if policy else ()
    goals = [goal_progress(goal, values_trend) for goal in targets]
    return HtmlReportData(
        scan=scan,
        divergences=effort.divergences,
        trends=values_trend,
        finding_trend=findings_trend,
        goals=goals,
        effort=effort,
        changes=changes,
        generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        tool_version=__version__,
    )
