"""Concurrent writers and leases, on SQLite and on the real PostgreSQL.

Two scans may write the same new rows at once (the same repository, the same content), two
first runs may create the schema at once, a scan's process may die, and `--resume` may meet a
scan that is still alive: none of it may fail a scan, lose a result or show a lie.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from driftscan.models import Evidence, Fact, RepoResult, RepoStatus
from driftscan.store import queries
from driftscan.store.queries import LeaseLost, ScanBusy, Store, StoreError, _process_space
from driftscan.store.tables import RepoRow, ScanRow
from tests.conftest import DEMO_ORG, cli, make_git_repo
from tests.store.conftest import _pg_database, result

HOST = _process_space()  # host name and pid namespace, as owners are written


def dead_pid() -> int:
    """The pid of a process of this host that has ended (and was reaped)."""
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def set_lease(store: Store, scan_id: int, owner: str, age_seconds: float) -> None:
    beat = datetime.utcnow() - timedelta(seconds=age_seconds)
    with store.engine.begin() as conn:
        conn.execute(
            update(ScanRow).where(ScanRow.id == scan_id).values(owner=owner, heartbeat_at=beat)
        )


def abandoned(store: Store, scan_id: int) -> None:
    """As if the scan's process had died: its timer stopped, its pid gone."""
    store._beats.pop(scan_id).stop()
    store._leases.pop(scan_id)
    set_lease(store, scan_id, f"{HOST}:{dead_pid()}:dead", 1)


# -- leases -------------------------------------------------------------------------------


def test_a_scan_whose_process_died_is_interrupted_and_never_the_newest(store: Store) -> None:
    done = store.begin_scan(["/org"], "d", "0")
    store.record(done, [result("api", "a" * 40, "jenkins")], "d")
    store.finish_scan(done, "complete")
    died = store.begin_scan(["/org"], "d", "0")
    store.record(died, [result("api", "b" * 40, "github-actions")], "d")
    assert store.scans()[0].status == "running"  # this process is alive and beating
    abandoned(store, died)
    shown = store.scans()[0]
    assert (shown.id, shown.status) == (died, "interrupted")
    assert "--resume" in (shown.note or "")
    assert store.load_scan(died).status == "interrupted"
    assert store.latest_scan_id() == done
    assert store.load_scan().id == done  # reports and baselines take the complete one
    with store.engine.connect() as conn:  # shown, not written: reading never writes
        assert conn.scalar(select(ScanRow.status).where(ScanRow.id == died)) == "running"


def test_a_lease_lapses_by_its_heartbeat_on_any_host(store: Store) -> None:
    scan_id = store.begin_scan(["/org"], "d", "0")
    store._beats.pop(scan_id).stop()
    set_lease(store, scan_id, "build-7.example:4242:abcd", 5)
    assert store.scans()[0].status == "running"  # another host, fresh heartbeat: alive
    set_lease(store, scan_id, "build-7.example:4242:abcd", queries.LEASE_SECONDS + 5)
    assert store.scans()[0].status == "interrupted"


def test_the_heartbeat_timer_keeps_a_quiet_scan_alive(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "HEARTBEAT_SECONDS", 0.05)
    scan_id = store.begin_scan(["/org"], "d", "0")  # then no batch at all, as when parked
    owner = store._leases[scan_id]
    set_lease(store, scan_id, owner, queries.LEASE_SECONDS + 60)
    deadline = time.monotonic() + 10
    while store.scans()[0].status != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.scans()[0].status == "running"
    store.finish_scan(scan_id, "complete")


def test_resume_refuses_a_live_scan_and_takes_over_a_dead_one(store: Store) -> None:
    scan_id = store.begin_scan(["/org"], "d", "0")
    partial = replace(result("part", "c" * 40, "jenkins"), complete=False)
    failed = result("bad", None, status=RepoStatus.ERROR)
    store.record(scan_id, [result("api", "a" * 40, "jenkins"), partial, failed], "d")
    other = Store(store.url)  # another process, as far as leases go
    with pytest.raises(ScanBusy, match=rf"scan #{scan_id} is still running in process"):
        other.resumable_scan(["/org"])
    abandoned(store, scan_id)
    taken = other.resumable_scan(["/org"])
    # only the complete, successful repository counts as done: the others are read again
    assert taken == (scan_id, {"/org/api"})
    assert other.scans()[0].status == "running"
    with pytest.raises(ScanBusy):  # a third process comes too late
        Store(store.url).resumable_scan(["/org"])
    assert other.resumable_scan(["/elsewhere"]) is None
    other.record(scan_id, [result("part", "c" * 40, "jenkins"), result("bad", "d" * 40)], "d")
    other.finish_scan(scan_id, "complete")
    finished = other.load_scan(scan_id)
    assert [(r.name, r.status, r.complete) for r in finished.repos] == [
        ("api", RepoStatus.OK, True),
        ("bad", RepoStatus.OK, True),
        ("part", RepoStatus.OK, True),
    ]
    with other.engine.connect() as conn:
        assert conn.scalar(select(ScanRow.repo_count).where(ScanRow.id == scan_id)) == 3
    assert other.resumable_scan(["/org"]) is None  # complete: a new scan, not a resume
    other.engine.dispose()


def test_a_process_whose_scan_was_taken_over_stops_writing(store: Store) -> None:
    scan_id = store.begin_scan(["/org"], "d", "0")
    owner = store._leases[scan_id]
    set_lease(store, scan_id, owner, queries.LEASE_SECONDS + 60)  # it stalled (suspended)
    taker = Store(store.url)
    assert taker.resumable_scan(["/org"]) == (scan_id, set())
    with pytest.raises(LeaseLost, match="taken over"):
        store.record(scan_id, [result("api", "a" * 40)], "d")
    with pytest.raises(LeaseLost):
        store.finish_scan(scan_id, "complete")
    taker.finish_scan(scan_id, "complete")
    assert taker.scans()[0].status == "complete"
    taker.engine.dispose()


def test_resume_never_takes_a_scan_whose_owner_beat_after_it_was_read(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    scan_id = store.begin_scan(["/org"], "d", "0")
    owner = store._leases[scan_id]
    set_lease(store, scan_id, owner, queries.LEASE_SECONDS + 60)  # looks stale when read...
    read = queries._newest_with_sources

    def read_then_beat(session: Session, sources: list[str]) -> ScanRow | None:
        row = read(session, sources)
        assert store.heartbeat(scan_id)  # ...but its live owner beats before the takeover
        return row

    monkeypatch.setattr(queries, "_newest_with_sources", read_then_beat)
    taker = Store(store.url)
    with pytest.raises(ScanBusy):
        taker.resumable_scan(["/org"], "d")
    store.record(scan_id, [result("api", "a" * 40)], "d")  # still its owner's
    store.finish_scan(scan_id, "complete")
    taker.engine.dispose()


def test_resume_never_mixes_results_of_other_rules(store: Store) -> None:
    scan_id = store.begin_scan(["/org"], "old-rules", "0")
    store.record(scan_id, [result("api", "a" * 40, "jenkins")], "old-rules")
    abandoned(store, scan_id)
    other = Store(store.url)
    # its results were detected by other rules: a new scan reads everything again
    assert other.resumable_scan(["/org"], "new-rules") is None
    assert other.resumable_scan(["/org"], "old-rules") == (scan_id, {"/org/api"})
    other.finish_scan(scan_id, "complete")
    other.engine.dispose()


# -- per-repository isolation of writes --------------------------------------------------


def test_a_repository_that_cannot_be_stored_costs_only_itself(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    # Issue 11 item 3: a path that is not UTF-8 (a lone surrogate) broke the whole batch.
    odd_path = ".github/workflows/a-\udcff.yml"
    odd = replace(
        result("odd", "e" * 40),
        facts=(Fact("ci", "ci.system", "github-actions", (Evidence(odd_path, 1, "file"),)),),
    )
    batch = [result("api", "a" * 40, "jenkins"), odd, result("web", "b" * 40, "travis")]
    scan_id = store.begin_scan(["/org"], "d", "0")
    with caplog.at_level(logging.WARNING, logger="driftscan.store"):
        stored = store.record(scan_id, batch, "d")
    assert "storing each alone" in caplog.text
    assert [r.status for r in stored] == [RepoStatus.OK, RepoStatus.ERROR, RepoStatus.OK]
    store.finish_scan(scan_id, "complete")
    repos = {r.name: r for r in store.load_scan(scan_id).repos}
    assert repos["api"].values("ci.system") == ("jenkins",)
    assert repos["web"].values("ci.system") == ("travis",)
    assert repos["odd"].status is RepoStatus.ERROR
    assert (repos["odd"].error or "").startswith("cannot store: ")
    assert "\n" not in (repos["odd"].error or "")


def test_a_store_that_cannot_write_at_all_is_one_store_error(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    scan_id = store.begin_scan(["/org"], "d", "0")

    def refuse(*_args: object) -> int:
        raise queries.SQLAlchemyError("disk I/O error")

    monkeypatch.setattr(Store, "_record", refuse)
    with pytest.raises(StoreError, match=r"^cannot write to .*: disk I/O error$"):
        store.record(scan_id, [result("api", "a" * 40), result("web", "b" * 40)], "d")
    with pytest.raises(StoreError, match="disk I/O error"):
        store.record(scan_id, [], "d")


# -- concurrent writers -------------------------------------------------------------------


def many(prefix: str, n: int) -> list[RepoResult]:
    return [result(f"{prefix}{i:02d}", f"{i:040d}", "jenkins", f"v{i}") for i in range(n)]


def test_two_scans_writing_the_same_new_rows_at_once_both_succeed(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    stores = [Store(db_url) for _ in range(2)]
    stores[0].ensure_schema()
    scans = [s.begin_scan(["/org"], "d", "0") for s in stores]
    batch = many("r", 40)  # the same new repositories, fact sets and states for both
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(store: Store, scan_id: int, order: list[RepoResult]) -> None:
        try:
            start.wait()
            store.record(scan_id, order, "d")
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=(stores[0], scans[0], batch)),
        threading.Thread(target=write, args=(stores[1], scans[1], batch[::-1])),
    ]
    with caplog.at_level(logging.WARNING, logger="driftscan.store"):
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    assert errors == []
    assert "could not be stored" not in caplog.text  # no batch failed, none was retried
    for store, scan_id in zip(stores, scans, strict=True):
        store.finish_scan(scan_id, "complete")
        repos = store.load_scan(scan_id).repos
        assert [r.values("ci.system") for r in repos] == [
            tuple(sorted(("jenkins", f"v{i}"))) for i in range(40)
        ]
    with stores[0].engine.connect() as conn:
        assert conn.scalar(select(text("count(*)")).select_from(RepoRow)) == 40
    for s in stores:
        s.engine.dispose()


@pytest.fixture(scope="module")
def small_org(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("small-org")
    folders = sorted(p for p in DEMO_ORG.iterdir() if p.is_dir())[:12]
    return [make_git_repo(folder, root / folder.name) for folder in folders]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def new_db_url(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'new' / 'driftscan.db'}"
    else:
        yield from _pg_database()


def test_two_first_scans_into_a_new_database_at_once_both_complete(
    small_org: list[Path], new_db_url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "DRIFTSCAN_FINGERPRINT_SALT": "concurrency", "COLUMNS": "200"}
    halves = [small_org[:8], small_org[4:]]  # four repositories in both
    options = ["--db", new_db_url, "--jobs", "1", "--format", "none"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "driftscan", "scan", *map(str, half), *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for half in halves
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "Traceback" not in err and "error" not in err.lower()
    store = Store(new_db_url)
    scans = store.scans()
    assert sorted(s.status for s in scans) == ["complete", "complete"]
    loaded = [store.load_scan(s.id) for s in scans]
    assert sorted(len(s.repos) for s in loaded) == [8, 8]
    assert all(r.status is RepoStatus.OK for s in loaded for r in s.repos)
    with store.engine.connect() as conn:
        assert conn.scalar(select(text("count(*)")).select_from(RepoRow)) == 12
    store.engine.dispose()


def test_concurrent_first_schema_creation_is_serialised(new_db_url: str) -> None:
    stores = [Store(new_db_url) for _ in range(3)]
    start = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def create(store: Store) -> None:
        try:
            start.wait()
            store.ensure_schema()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert {s.current_revision() for s in stores} == {stores[0].head_revision()}
    for s in stores:
        s.engine.dispose()


# -- a database from a newer driftscan ------------------------------------------------------


def test_a_database_from_a_newer_driftscan_is_one_line(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0042'"))
    expected = "this database was written by a newer driftscan (revision 0042); upgrade driftscan"
    for command in (["db", "upgrade"], ["scan", str(DEMO_ORG / "payments-api")]):
        code, out = cli(*command, "--db", store.url)
        assert code == 2, out
        assert out.strip().startswith("error: ") and out.strip().endswith(expected), out
        assert "\n" not in out.strip() and "Traceback" not in out
    code, out = cli("db", "status", "--db", store.url)
    assert code == 0 and "written by a newer driftscan: upgrade driftscan" in out


def test_a_live_scan_of_another_pid_namespace_on_the_same_host_name_is_not_judged_dead(
    store: Store,
) -> None:
    """Containers with host networking share the host name, not the pids: a pid absent here
    may be alive there, so only the heartbeat can say such a scan died."""
    scan_id = store.begin_scan(["/org"], "d0", "0")
    store._beats.pop(scan_id).stop()
    other_space = f"{socket.gethostname()}/1"  # same host name, another pid namespace
    set_lease(store, scan_id, f"{other_space}:{dead_pid()}:other", 1)
    assert store.load_scan(scan_id).status == "running"
    set_lease(store, scan_id, f"{HOST}:{dead_pid()}:here", 1)
    assert store.load_scan(scan_id).status == "interrupted"
