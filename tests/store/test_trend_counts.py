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
