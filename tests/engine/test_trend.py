"""Trend series: buckets stand for their last scan, shares of what each scan saw."""

from __future__ import annotations

from datetime import datetime

import pytest

from driftscan.engine.trend import NONE_VALUE, ScanPoint, ValueCount, bucket_label, buckets, trend

SCANS = [
    ScanPoint(1, datetime(2026, 1, 5, 2), 10),  # Monday of ISO week 2
    ScanPoint(2, datetime(2026, 1, 9, 2), 10),  # same week, later: stands for it
    ScanPoint(3, datetime(2026, 2, 2, 2), 8),
    ScanPoint(4, datetime(2026, 2, 20, 2), 0),  # saw nothing: shares are 0, not an error
]
COUNTS = [
    ValueCount(1, "ci.system", "jenkins", 6),
    ValueCount(1, "ci.system", "github-actions", 4),
    ValueCount(2, "ci.system", "jenkins", 5),
    ValueCount(2, "ci.system", "github-actions", 5),
    ValueCount(3, "ci.system", "github-actions", 7),
    ValueCount(3, "ci.system", "travis", 1),
]
COVERED = [
    ValueCount(1, "ci.system", "", 10),
    ValueCount(2, "ci.system", "", 9),
    ValueCount(3, "ci.system", "", 8),
]


def test_labels() -> None:
    assert bucket_label(datetime(2026, 12, 31), "week") == "2026-W53"
    assert bucket_label(datetime(2027, 1, 1), "week") == "2026-W53"  # ISO years
    assert bucket_label(datetime(2026, 3, 9), "month") == "2026-03"
    with pytest.raises(ValueError, match="unknown bucket"):
        bucket_label(datetime(2026, 3, 9), "quarter")


def test_calendar_buckets_take_the_last_scan() -> None:
    assert [(b.label, b.scan_id) for b in buckets(SCANS, "week")] == [
        ("2026-W02", 2),
        ("2026-W06", 3),
        ("2026-W08", 4),
    ]
    assert [(b.label, b.scan_id) for b in buckets(reversed(SCANS), "month")] == [
        ("2026-01", 2),
        ("2026-02", 4),
    ]


def test_series_per_value_with_none_and_shares() -> None:
    result = trend(SCANS, COUNTS, "scan", COVERED)
    assert [b.label for b in result.buckets] == ["#1", "#2", "#3", "#4"]
    got = {s.value: [(p.repos, round(p.share, 3)) for p in s.points] for s in result.series}
    assert got == {
        "github-actions": [(4, 0.4), (5, 0.5), (7, 0.875), (0, 0.0)],
        "jenkins": [(6, 0.6), (5, 0.5), (0, 0.0), (0, 0.0)],
        "travis": [(0, 0.0), (0, 0.0), (1, 0.125), (0, 0.0)],
        NONE_VALUE: [(0, 0.0), (1, 0.1), (0, 0.0), (0, 0.0)],
    }
    # most used at the end first, (none) last
    assert [s.value for s in result.series][-1] == NONE_VALUE


def test_last_keeps_the_newest_buckets_only() -> None:
    result = trend(SCANS, COUNTS, "scan", COVERED, last=2)
    assert [b.scan_id for b in result.buckets] == [3, 4]
    assert "jenkins" not in {s.value for s in result.series}  # gone before the window
    assert trend(SCANS, COUNTS, "scan", last=0).series == ()


def test_no_scans_no_series() -> None:
    result = trend([], COUNTS, "month")
    assert result.buckets == () and result.series == ()


def test_finding_changes_match_on_fingerprints() -> None:
    from driftscan.engine.trend import finding_changes
    from driftscan.models import Finding, Outcome

    def finding(repo: str, severity: str, fp: str) -> Finding:
        return Finding(
            "r", "ci.system", repo, f"/org/{repo}", "travis", Outcome.FAIL, "forbidden",
            severity, "m", "", fp,
        )  # fmt: skip

    before = {"a": finding("api", "high", "a"), "b": finding("web", "low", "b")}
    after = {
        "b": finding("web", "low", "b"),  # still there: neither new nor fixed
        "c": finding("ops", "low", "c"),
        "d": finding("db", "high", "d"),
    }
    changes = finding_changes("#1", before, after)
    assert [f.repo for f in changes.new] == ["db", "ops"]  # most severe first
    assert [f.repo for f in changes.fixed] == ["api"]
    assert changes.open == ()  # ages need first-seen dates
    at = datetime(2026, 11, 1)
    aged = finding_changes(
        "#1", before, after, {"b": datetime(2026, 1, 1), "c": datetime(2026, 10, 1)}, at
    )
    assert [(o.finding.repo, o.days) for o in aged.open] == [
        ("web", 304),  # oldest first
        ("ops", 31),
        ("db", 0),  # never stored before: first seen at the last point
    ]


def goal(target: str, by: str = "2026-06-30", value: str = "github-actions"):
    from datetime import date

    from driftscan.engine.policy import Goal

    at_least, amount = target[:2] == ">=", target[2:].strip()
    share = amount.endswith("%")
    number = float(amount.rstrip("%").removesuffix(" repos")) / (100 if share else 1)
    return Goal("ci.system", value, at_least, number, share, date.fromisoformat(by))


def test_goal_progress_met_on_track_behind_and_stalled() -> None:
    from datetime import date

    from driftscan.engine.trend import goal_progress

    scans = SCANS[:3]  # github-actions 40% -> 50% -> 87.5% over four weeks
    result = trend(scans, COUNTS, "scan", COVERED)
    met = goal_progress(goal(">= 80%"), result)
    assert met.met and met.on_track and met.current == 0.875
    ahead = goal_progress(goal(">= 95%"), result)
    assert not ahead.met and ahead.on_track and ahead.projected < date(2026, 3, 1)
    late = goal_progress(goal(">= 95%", by="2026-02-03"), result)
    assert not late.on_track and late.projected > date(2026, 2, 3)
    # jenkins 6 -> 0 repos: a "<= 0 repos" goal is met; travis 0 -> 1 moves away from "<= 0"
    assert goal_progress(goal("<= 0 repos", value="jenkins"), result).met
    away = goal_progress(goal("<= 0 repos", value="travis"), result)
    assert (away.met, away.projected, away.on_track) == (False, None, False)
    empty = goal_progress(goal(">= 90%"), trend([], [], "scan"))
    assert empty.current is None and not empty.on_track


def test_choose_repos_by_team_and_name() -> None:
    from driftscan.engine.trend import RepoOwners, choose_repos, known_teams

    repos = [
        RepoOwners(1, "acme/payments-api", "/o/payments-api", ("@acme/Payments",)),
        RepoOwners(2, "acme/payments-worker", "/o/payments-worker", ()),
        RepoOwners(3, "acme/web", "/o/web", ("@acme/web", "@acme/payments")),
        RepoOwners(4, "acme/docs", "/o/docs", ()),
    ]
    owner_map = [("payments-*", "@acme/payments"), ("docs", "@acme/writers")]
    payments = choose_repos(repos, ["acme/PAYMENTS"], owner_map=owner_map)
    assert payments.repo_ids == {1, 2, 3}
    assert payments.scope == "team acme/PAYMENTS (3 repositories)"
    assert choose_repos(repos, ["@acme/payments"]).repo_ids == {1, 3}  # no owners map
    named = choose_repos(repos, ["@acme/payments"], ["payments-*"], owner_map)
    assert (named.repo_ids, named.locations) == ({1, 2}, {"/o/payments-api", "/o/payments-worker"})
    assert choose_repos(repos, globs=["acme/docs"]).scope == "repos acme/docs (1 repository)"
    assert choose_repos(repos, ["@acme/nobody"]).repo_ids == frozenset()
    assert known_teams(repos, owner_map) == [
        ("@acme/Payments", 3),
        ("@acme/web", 1),
        ("@acme/writers", 1),
    ]
