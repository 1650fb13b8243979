"""Trends: how many repositories use each value of a dimension, scan after scan.

Pure functions over the counts the store aggregates. A calendar bucket (week, month) shows the
state at its end: the last scan inside it, because a scan is a snapshot, not a sum.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from driftscan.engine.policy import Goal, name_matches, owners_of
from driftscan.models import SEVERITY_RANK, Finding

NONE_VALUE = "(none)"
BUCKETS = ("scan", "week", "month")


@dataclass(frozen=True)
class ScanPoint:
    """One stored scan as trends see it: when, and how many repositories it saw."""

    scan_id: int
    at: datetime
    seen: int  # repositories read successfully (ok or empty)


@dataclass(frozen=True)
class ValueCount:
    scan_id: int
    dimension: str
    value: str
    repos: int


@dataclass(frozen=True)
class Bucket:
    label: str  # "#12", "2026-W48" or "2026-11"
    scan_id: int  # the scan that stands for the bucket: its last one
    at: datetime
    seen: int


@dataclass(frozen=True)
class Point:
    repos: int
    share: float  # of the repositories seen in the bucket's scan


@dataclass(frozen=True)
class Series:
    dimension: str
    value: str
    points: tuple[Point, ...]  # one per bucket, in bucket order

    @property
    def first(self) -> Point:
        return self.points[0]

    @property
    def last(self) -> Point:
        return self.points[-1]


@dataclass(frozen=True)
class Trend:
    by: str
    buckets: tuple[Bucket, ...]
    series: tuple[Series, ...]  # by dimension, then most used at the end first
    scope: str = ""  # the repositories charted when not the whole org, e.g. "team @acme/web"


@dataclass(frozen=True)
class RepoOwners:
    """A repository as one scan saw it: enough to tell which team owns it."""

    repo_id: int
    name: str
    location: str
    owners: tuple[str, ...]  # CODEOWNERS teams


@dataclass(frozen=True)
class RepoChoice:
    repo_ids: frozenset[int]
    locations: frozenset[str]
    label: str  # e.g. "team @acme/web; repos payments-*"

    @property
    def scope(self) -> str:
        plural = "repository" if len(self.repo_ids) == 1 else "repositories"
        return f"{self.label} ({len(self.repo_ids)} {plural})"


def _team_key(team: str) -> str:
    return team.lower().lstrip("@")


def choose_repos(
    repos: Iterable[RepoOwners],
    teams: Sequence[str] = (),
    globs: Sequence[str] = (),
    owner_map: Sequence[tuple[str, str]] = (),
) -> RepoChoice:
    """The repositories owned by any of `teams` (CODEOWNERS, else the policy's owners map;
    `@` and case ignored) and named by any of `globs`; both when both are given."""
    wanted = {_team_key(t) for t in teams}
    repos = list(repos)
    chosen = frozenset(
        repo.repo_id
        for repo in repos
        if (
            not wanted
            or wanted & {_team_key(o) for o in owners_of(repo.name, repo.owners, owner_map)}
        )
        and (not globs or any(name_matches(repo.name, glob) for glob in globs))
    )
    parts = ([f"team {', '.join(teams)}"] if teams else []) + (
        [f"repos {', '.join(globs)}"] if globs else []
    )
    locations = frozenset(r.location for r in repos if r.repo_id in chosen)
    return RepoChoice(chosen, locations, "; ".join(parts))


def known_teams(
    repos: Iterable[RepoOwners], owner_map: Sequence[tuple[str, str]] = ()
) -> list[tuple[str, int]]:
    """Teams and how many repositories each owns, most first (for a helpful error)."""
    counts: dict[str, int] = {}
    spelling: dict[str, str] = {}  # matching ignores case and `@`: so does the count
    for repo in repos:
        for key, team in {
            _team_key(t): t for t in owners_of(repo.name, repo.owners, owner_map)
        }.items():
            spelling.setdefault(key, team)
            counts[key] = counts.get(key, 0) + 1
    return sorted(((spelling[k], n) for k, n in counts.items()), key=lambda i: (-i[1], i[0]))


def bucket_label(at: datetime, by: str) -> str:
    if by == "week":
        year, week, _ = at.isocalendar()
        return f"{year}-W{week:02d}"
    if by == "month":
        return f"{at.year}-{at.month:02d}"
    raise ValueError(f"unknown bucket {by!r}: choose one of {', '.join(BUCKETS)}")


def buckets(scans: Iterable[ScanPoint], by: str) -> list[Bucket]:
    """One bucket per scan, or per calendar week/month standing for its last scan."""
    ordered = sorted(scans, key=lambda s: (s.at, s.scan_id))
    if by == "scan":
        return [Bucket(f"#{s.scan_id}", s.scan_id, s.at, s.seen) for s in ordered]
    last: dict[str, ScanPoint] = {}
    for scan in ordered:
        last[bucket_label(scan.at, by)] = scan  # later scans overwrite earlier ones
    return [Bucket(label, s.scan_id, s.at, s.seen) for label, s in last.items()]


def trend(
    scans: Sequence[ScanPoint],
    counts: Iterable[ValueCount],
    by: str = "scan",
    covered: Iterable[ValueCount] = (),
    last: int | None = None,
    scope: str = "",
) -> Trend:
    """Series per (dimension, value) over the buckets.

    `covered` carries, per scan and dimension, how many repositories had any value (its
    `value` is ignored); with it each dimension also gets a `(none)` series. `last` keeps only
    the newest buckets.
    """
    chosen = buckets(scans, by)
    if last is not None:
        chosen = chosen[-last:] if last > 0 else []
    index = {b.scan_id: i for i, b in enumerate(chosen)}
    table: dict[tuple[str, str], list[int]] = {}
    for count in counts:
        slot = index.get(count.scan_id)
        if slot is not None:
            table.setdefault((count.dimension, count.value), [0] * len(chosen))[slot] = count.repos
    with_value: dict[str, list[int]] = {}
    for count in covered:
        slot = index.get(count.scan_id)
        if slot is not None:
            with_value.setdefault(count.dimension, [0] * len(chosen))[slot] = count.repos
    for dimension, repos in with_value.items():
        none = [max(b.seen - n, 0) for b, n in zip(chosen, repos, strict=True)]
        if any(none):
            table[(dimension, NONE_VALUE)] = none

    def share(repos: int, bucket: Bucket) -> float:
        return repos / bucket.seen if bucket.seen else 0.0

    series = [
        Series(dim, value, tuple(Point(n, share(n, b)) for n, b in zip(repos, chosen, strict=True)))
        for (dim, value), repos in table.items()
    ]
    series.sort(key=lambda s: (s.dimension, s.value == NONE_VALUE, -s.last.repos, s.value))
    return Trend(by, tuple(chosen), tuple(series), scope)


@dataclass(frozen=True)
class FindingChanges:
    """Failing findings between two scans, matched on their line-free fingerprints."""

    since: str  # the label of the earlier point
    new: tuple[Finding, ...]  # failing now, not then
    fixed: tuple[Finding, ...]  # failing then, not now
    open: tuple[OpenFinding, ...] = ()  # failing now, oldest first


@dataclass(frozen=True)
class OpenFinding:
    """A finding failing at the last point, and when any stored scan first saw it."""

    finding: Finding
    first_seen: datetime
    days: int  # from first seen to the last point


def finding_changes(
    since: str,
    before: Mapping[str, Finding],
    after: Mapping[str, Finding],
    first_seen: Mapping[str, datetime] | None = None,
    at: datetime | None = None,
) -> FindingChanges:
    """New and fixed between two points; with `first_seen` (fingerprint -> when first stored)
    and `at` (the last point), also every open finding with its age, oldest first."""

    def ordered(found: Iterable[Finding]) -> tuple[Finding, ...]:
        return tuple(
            sorted(found, key=lambda f: (-SEVERITY_RANK.get(f.severity, -1), f.dimension, f.repo))
        )

    open_: list[OpenFinding] = []
    if first_seen is not None and at is not None:
        for key, f in after.items():
            seen = min(first_seen.get(key, at), at)
            open_.append(OpenFinding(f, seen, (at - seen).days))
        open_.sort(
            key=lambda o: (
                o.first_seen,
                -SEVERITY_RANK.get(o.finding.severity, -1),
                o.finding.dimension,
                o.finding.repo,
            )
        )
    return FindingChanges(
        since,
        ordered(f for key, f in after.items() if key not in before),
        ordered(f for key, f in before.items() if key not in after),
        tuple(open_),
    )


@dataclass(frozen=True)
class GoalProgress:
    goal: Goal
    current: float | None  # share or repositories at the last point; None without data
    met: bool
    projected: date | None  # when the straight line through first and last point meets it
    on_track: bool


def goal_progress(goal: Goal, trend_: Trend) -> GoalProgress:
    """Where a goal stands at the trend's last point, and when the pace since its first point
    reaches it. A straight line is crude, but it is the figure a platform team is asked for."""
    series = next(
        (s for s in trend_.series if (s.dimension, s.value) == (goal.dimension, goal.value)), None
    )
    if not trend_.buckets:
        return GoalProgress(goal, None, False, None, False)

    def amount(point: Point | None) -> float:
        if point is None:
            return 0.0
        return point.share if goal.share else float(point.repos)

    first = amount(series.first if series else None)
    current = amount(series.last if series else None)
    met = current >= goal.amount if goal.at_least else current <= goal.amount
    if met:
        return GoalProgress(goal, current, True, None, True)
    start, end = trend_.buckets[0].at, trend_.buckets[-1].at
    days = (end - start).total_seconds() / 86400
    per_day = (current - first) / days if days > 0 else 0.0
    towards = per_day > 0 if goal.at_least else per_day < 0
    if not towards:
        return GoalProgress(goal, current, False, None, False)
    needed = (goal.amount - current) / per_day
    if needed > 36500:  # a century away at this pace: say "not on track", not a date
        return GoalProgress(goal, current, False, None, False)
    projected = (end + timedelta(days=needed)).date()
    return GoalProgress(goal, current, False, projected, goal.by is None or projected <= goal.by)
