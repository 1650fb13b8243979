"""Trend counts aggregated in SQL, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update

from driftscan.engine.trend import trend
from driftscan.models import RepoStatus
from driftscan.store.queries import Store
from driftscan.store.tables import ScanRow
from tests.store.conftest import result

# Three scans of a four-repository org moving from Jenkins to GitHub Actions.
HISTORY = [
    {"api": ["jenkins"], "web": ["jenkins"], "ops": ["jenkins", "github-actions"], "docs": []},
    {"api": ["github-actions"], "web": ["jenkins"], "ops": ["github-actions"], "docs": []},
    {"api": ["github-actions"], "web": ["github-actions"], "ops": ["github-actions"], "docs": []},
]


def record_history(store: Store) -> list[int]:
    ids = []
    start = datetime(2026, 9, 1, 3, 0)
    for n, repos in enumerate(HISTORY):
        scan_id = store.begin_scan(["/org"], "d1", "0.1.0")
        store.record(
            scan_id,
            [result(name, f"{n:040d}", *values) for name, values in repos.items()]
            + [result("broken", None, status=RepoStatus.ERROR)],
            "d1",
        )
        store.finish_scan(scan_id, "complete")
        with store.engine.begin() as conn:  # spread the scans a month apart
            conn.execute(
                update(ScanRow)
                .where(ScanRow.id == scan_id)
                .values(started_at=start + timedelta(days=31 * n))
            )
        ids.append(scan_id)
    return ids


def test_counts_per_scan_value_and_dimension(store: Store) -> None:
    ids = record_history(store)
    parked = store.begin_scan(["/org"], "d1", "0.1.0")
    store.record(parked, [result("api", "f" * 40, "travis")], "d1")
    store.finish_scan(parked, "incomplete")

    scans, values, covered = store.trend_counts(["ci.system"])
    assert [(s.scan_id, s.seen) for s in scans] == [(i, 4) for i in ids]  # error repo not seen
    got = trend(scans, values, "scan", covered)
    assert {(s.value, tuple(p.repos for p in s.points)) for s in got.series} == {
        ("github-actions", (1, 2, 3)),
        ("jenkins", (3, 1, 0)),
        ("(none)", (1, 1, 1)),
    }
    assert [b.label for b in trend(scans, values, "month", covered).buckets] == [
        "2026-09",
        "2026-10",
        "2026-11",
    ]
    with_parked, _, _ = store.trend_counts(["ci.system"], include_incomplete=True)
    assert [s.scan_id for s in with_parked][-1] == parked
    since, _, _ = store.trend_counts(["ci.system"], since=datetime(2026, 10, 1))
    assert [s.scan_id for s in since] == ids[1:]
    other, values, _ = store.trend_counts(["monitoring.stack"])
    assert len(other) == 3 and values == []


def test_counts_of_chosen_repositories(store: Store) -> None:
    ids = record_history(store)
    owners = {r.name: r.repo_id for r in store.repo_owners(ids[-1])}
    assert set(owners) == {"api", "web", "ops", "docs", "broken"}
    scans, values, covered = store.trend_counts(
        ["ci.system"], repo_ids={owners["web"], owners["ops"], owners["broken"]}
    )
    assert [s.seen for s in scans] == [2, 2, 2]  # broken is chosen but never read
    got = {(v.scan_id, v.value): v.repos for v in values}
    assert got == {
        (ids[0], "jenkins"): 2,
        (ids[0], "github-actions"): 1,
        (ids[1], "jenkins"): 1,
        (ids[1], "github-actions"): 1,
        (ids[2], "github-actions"): 2,
    }
    assert {(c.scan_id, c.repos) for c in covered} == {(i, 2) for i in ids}
    everyone = store.trend_counts(repo_ids=set(owners.values()))
    assert everyone == store.trend_counts()  # the subset path and the stored counts agree


def test_repo_chunks_add_up(store: Store) -> None:
    """More chosen repositories than one IN list holds: chunks partition each scan's rows."""
    scan_id = store.begin_scan(["/org"], "d", "0")
    store.record(scan_id, [result(f"r{i:04d}", f"{i:040d}", "jenkins") for i in range(1203)], "d")
    store.finish_scan(scan_id, "complete")
    repo_ids = {r.repo_id for r in store.repo_owners(scan_id)}
    scans, values, _ = store.trend_counts(["ci.system"], repo_ids=repo_ids)
    assert [s.seen for s in scans] == [1203]
    assert [(v.value, v.repos) for v in values] == [("jenkins", 1203)]
