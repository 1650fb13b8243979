"""Retention: old scans go, whatever only they used goes, the rest of history is intact."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from driftscan.models import InfraFile
from driftscan.store.queries import Store
from driftscan.store.tables import FactSetRow, InfraContentRow, RepoRow, ScanRow
from tests.store.conftest import result


def count(store: Store, table: type) -> int:
    with store.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)


def history(store: Store) -> list[int]:
    """Four scans: api moves jenkins -> github-actions; `old` is only in the first scan."""
    ids = []
    for n, value in enumerate(["jenkins", "jenkins", "github-actions", "github-actions"]):
        scan_id = store.begin_scan(["/org"], "d", "0")
        api = result("api", f"{n:040d}", value)
        if n == 0:
            infra = (InfraFile("Jenkinsfile", "jenkinsfile", "h" * 64, 3, "pipeline {}", b"mh"),)
            api = replace(api, infra=infra)
        batch = [api, result("web", "b" * 40, "travis")]
        if n == 0:
            batch.append(result("old", "c" * 40, "circleci"))
        store.record(scan_id, batch, "d")
        store.finish_scan(scan_id, "complete")
        with store.engine.begin() as conn:
            conn.execute(
                update(ScanRow)
                .where(ScanRow.id == scan_id)
                .values(started_at=datetime(2026, 1, 1) + timedelta(days=30 * n))
            )
        ids.append(scan_id)
    return ids


def test_keep_the_newest_scans(store: Store) -> None:
    ids = history(store)
    kept_before = [store.load_scan(i) for i in ids[2:]]
    dry = store.prune(keep_scans=2, dry_run=True)
    assert (dry.scans_deleted, dry.scans_kept) == (2, 2)
    assert count(store, ScanRow) == 4  # a dry run deletes nothing
    done = store.prune(keep_scans=2)
    assert done == dry
    # old's set, api's two jenkins states (with and without its Jenkinsfile text)
    assert (done.factsets, done.repos, done.infra_texts) == (3, 1, 1)
    assert done.states == 3  # api's first two heads and old's only one; web's is still used
    assert [store.load_scan(i) for i in ids[2:]] == kept_before
    assert count(store, RepoRow) == 2 and count(store, InfraContentRow) == 0
    assert count(store, FactSetRow) == 2  # api on github-actions, web on travis


def test_keep_by_age_never_drops_the_newest_complete_scan(store: Store) -> None:
    ids = history(store)
    result_ = store.prune(keep_since=datetime(2026, 2, 15))
    assert result_.scans_deleted == 2
    assert [s.id for s in store.scans()] == ids[:1:-1]
    result_ = store.prune(keep_since=datetime(2030, 1, 1))
    assert [s.id for s in store.scans()] == [ids[-1]]
    assert result_.scans_deleted == 1


def test_vacuum_gives_space_back(store: Store) -> None:
    history(store)
    for n in range(3):  # enough deleted rows to free whole pages
        scan_id = store.begin_scan(["/org"], "d", "0")
        batch = [result(f"svc{i}", f"{n}{i:039d}", f"tool-{n}-{i}") for i in range(200)]
        store.record(scan_id, batch, "d")
        store.finish_scan(scan_id, "complete")
    store.prune(keep_scans=1)
    before, after = store.vacuum()
    assert before is not None and after is not None
    if store.engine.dialect.name == "sqlite":  # PostgreSQL's VACUUM reuses space, keeps files
        assert after < before


def test_prune_waits_for_a_running_scan(store: Store) -> None:
    from driftscan.store.queries import StoreError

    done = store.begin_scan(["/org"], "d0", "0")
    store.finish_scan(done, "complete")
    running = store.begin_scan(["/org"], "d0", "0")  # this process owns it: alive
    with pytest.raises(StoreError, match=f"scan #{running} is running"):
        store.prune(keep_scans=1)
    assert store.prune(keep_scans=1, dry_run=True).scans_kept >= 1  # a dry run may look
    store.finish_scan(running, "complete")
    assert store.prune(keep_scans=1).scans_deleted == 1
