"""The store on SQLite and PostgreSQL: migrations, round trips, content-addressed facts."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, text

from driftscan.models import Evidence, RepoMeta, RepoResult, RepoStatus
from driftscan.store.queries import Store, StoreError, safe_url
from driftscan.store.tables import Base, FactRow, FactSetRow, RepoScanRow
from tests.store.conftest import result


def test_migrated_schema_matches_the_orm(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert store.current_revision() == store.head_revision()


def test_scan_round_trip(store: Store) -> None:
    scan_id = store.begin_scan(["/org"], "digest1", "0.1.0")
    store.record(
        scan_id,
        [
            result("api", "a" * 40, "github-actions", "jenkins"),
            result("bad", None, status=RepoStatus.ERROR),
        ],
        "digest1",
    )
    store.finish_scan(scan_id, "complete")
    scan = store.load_scan()
    assert (scan.id, scan.status, scan.sources) == (scan_id, "complete", ("/org",))
    api, bad = scan.repos
    assert api.values("ci.system") == ("github-actions", "jenkins")
    assert api.facts[0].evidence == (Evidence(".github/workflows/ci.yml", 3, "yaml keys=jobs"),)
    assert api.problems[0].path == "big.yml"
    assert (bad.status, bad.error, bad.facts) == (RepoStatus.ERROR, "boom", ())


def test_identical_fact_sets_are_stored_once(store: Store) -> None:
    for _ in range(3):
        scan_id = store.begin_scan(["/org"], "d", "0.1.0")
        store.record(
            scan_id,
            [result("a", "1" * 40, "github-actions"), result("b", "2" * 40, "github-actions")],
            "d",
        )
        store.finish_scan(scan_id, "complete")
    with store.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(FactSetRow)) == 1
        assert conn.scalar(select(func.count()).select_from(FactRow)) == 1
        assert conn.scalar(select(func.count()).select_from(RepoScanRow)) == 6
    assert len(store.scans()) == 3


def test_known_heads_enable_reuse(store: Store) -> None:
    first = store.begin_scan(["/org"], "d", "0.1.0")
    store.record(first, [result("a", "1" * 40, "travis")], "d")
    known = store.known_heads("d")
    assert known["/org/a"].head == "1" * 40
    assert store.known_heads("other-ruleset") == {}
    second = store.begin_scan(["/org"], "d", "0.1.0")
    reused = RepoResult("a", "/org/a", RepoMeta(head="1" * 40), RepoStatus.OK, reused=True)
    store.record(second, [reused], "d", known)
    assert store.load_scan(second).repos[0].values("ci.system") == ("travis",)
    assert store.load_scan(second).repos[0].reused


def test_known_heads_are_each_repository_s_newest_usable_state(store: Store) -> None:
    """An error or an older ruleset in a later scan does not hide the last usable head."""
    heads = [
        ("d", [result("a", "1" * 40), result("b", "5" * 40)]),
        ("d", [result("a", "2" * 40), result("b", "5" * 40)]),
        ("d", [result("a", None, status=RepoStatus.ERROR), result("b", "6" * 40)]),
        ("old", [result("a", "3" * 40), result("b", "7" * 40)]),
    ]
    for digest, batch in heads:
        scan_id = store.begin_scan(["/org"], digest, "0")
        store.record(scan_id, batch, digest)
        store.finish_scan(scan_id, "complete")
    known = store.known_heads("d")
    assert {loc: k.head for loc, k in known.items()} == {"/org/a": "2" * 40, "/org/b": "6" * 40}
    assert {loc: k.head for loc, k in store.known_heads("old").items()} == {
        "/org/a": "3" * 40,
        "/org/b": "7" * 40,
    }


def test_outdated_schema_is_refused_until_upgraded(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0008'"))
    with pytest.raises(StoreError, match="driftscan db upgrade"):
        Store(store.url).ensure_schema()


def test_empty_database_has_no_scan(store: Store) -> None:
    with pytest.raises(StoreError, match="no complete scan yet"):
        store.load_scan()
    with pytest.raises(StoreError, match="no scan with id 42"):
        store.load_scan(42)


def test_corrupt_sqlite_file_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=r"cannot read database .*broken\.db"):
        Store(f"sqlite:///{path}").ensure_schema()


def test_urls_never_show_passwords() -> None:
    assert safe_url("postgresql+psycopg://ci:hunter2@db/x") == "postgresql+psycopg://ci:***@db/x"
    with pytest.raises(StoreError) as info:
        Store("nosuchdialect://u:hunter2@h/d")
    assert "hunter2" not in str(info.value)


def test_a_database_of_the_first_schema_upgrades_with_its_history(db_url: str) -> None:
    old = Store(db_url)
    old.upgrade("0001")
    with old.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO scan (id, started_at, finished_at, status, ruleset_digest, tool_version,"
                " sources, repo_count) VALUES (1, '2026-01-05 10:00:00', '2026-01-05 10:01:00',"
                " 'complete', 'd0', '0.0.1', '[\"/org\"]', 1)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO repo (id, name, location, first_seen) VALUES (1, 'api', '/org/api', '2026-01-05 10:00:00')"
            )
        )
        conn.execute(text("INSERT INTO factset (id, digest, fact_count) VALUES (1, 'x', 1)"))
        conn.execute(
            text(
                "INSERT INTO fact (id, factset_id, category, dimension, value) VALUES (1, 1, 'ci', 'ci.system', 'jenkins')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO evidence (id, fact_id, path, line, signal) VALUES (1, 1, 'Jenkinsfile', NULL, 'file')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO repo_scan (id, scan_id, repo_id, head, default_branch, status, error, problems,"
                " factset_id, reused, complete, ruleset_digest) VALUES (1, 1, 1, 'abc', 'main', 'ok', NULL,"
                " '[]', 1, false, true, 'd0')"
            )
        )
    before, after = old.upgrade()
    assert (before, after) == ("0001", old.head_revision())
    scan = old.load_scan(1)
    assert scan.repos[0].values("ci.system") == ("jenkins",)
    assert scan.repos[0].owners == () and scan.repos[0].meta.topics == ()
    scans, values, _ = old.trend_counts(["ci.system"])  # counts backfilled by 0006
    assert [(s.scan_id, s.seen) for s in scans] == [(1, 1)]
    assert [(v.value, v.repos) for v in values] == [("jenkins", 1)]
    old.engine.dispose()


def test_findings_of_a_0004_database_move_into_shared_sets(db_url: str) -> None:
    old = Store(db_url)
    old.upgrade("0004")
    with old.engine.begin() as conn:
        for scan in (1, 2):
            conn.execute(
                text(
                    "INSERT INTO scan (id, started_at, status, ruleset_digest, tool_version, sources,"
                    f" repo_count) VALUES ({scan}, '2026-0{scan}-05 10:00:00', 'complete', 'd0',"
                    " '0.0.1', '[]', 1)"
                )
            )
            if scan == 1:
                conn.execute(
                    text(
                        "INSERT INTO repo (id, name, location, first_seen)"
                        " VALUES (1, 'api', '/org/api', '2026-01-05 10:00:00')"
                    )
                )
            conn.execute(
                text(
                    "INSERT INTO repo_scan (scan_id, repo_id, head, status, problems, reused,"
                    f" complete, ruleset_digest) VALUES ({scan}, 1, 'abc', 'ok', '[]', false, true,"
                    " 'd0')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO finding (scan_id, rule_id, dimension, repo, location, value,"
                    " outcome, kind, severity, message, fingerprint, waiver) VALUES"
                    f" ({scan}, 'ci-system', 'ci.system', 'api', '/org/api', 'travis', 'fail',"
                    " 'forbidden', 'high', 'api uses travis', 'fp1', NULL)"
                )
            )
    old.upgrade()
    for scan in (1, 2):
        [finding] = old.findings(scan)
        assert (finding.repo, finding.value, finding.fingerprint) == ("api", "travis", "fp1")
    counts = old.finding_counts([1, 2])  # backfilled by 0008
    assert sorted((c.scan_id, c.dimension, c.value, c.repos) for c in counts) == [
        (1, "ci.system", "forbidden", 1),
        (2, "ci.system", "forbidden", 1),
    ]
    with old.engine.connect() as conn:
        assert conn.scalar(text("SELECT COUNT(*) FROM finding_set")) == 1  # shared by both scans
    old.engine.dispose()


def test_unchanged_findings_are_stored_once(store: Store) -> None:
    from driftscan.engine.policy import fingerprint
    from driftscan.models import Finding, Outcome

    def finding(value: str) -> Finding:
        fp = fingerprint("ci.system", "forbidden", value, "/org/api")
        return Finding(
            "ci-system", "ci.system", "api", "/org/api", value, Outcome.FAIL, "forbidden",
            "high", f"api uses {value}", "", fp,
        )  # fmt: skip

    ids = []
    for values in (["travis"], ["travis"], ["travis", "jenkins"]):
        scan_id = store.begin_scan(["/org"], "d", "0")
        store.record(scan_id, [result("api", "a" * 40, *values)], "d")
        store.record_findings(scan_id, [finding(v) for v in values])
        ids.append(scan_id)
    assert [c.repos for c in store.finding_counts([ids[0]])] == [1]
    store.record_findings(ids[0], [])  # recomputed with a policy that finds nothing
    assert [len(store.findings(i)) for i in ids] == [0, 1, 2]
    assert store.finding_counts([ids[0]]) == []  # the per-scan counts follow
    assert sorted((c.scan_id, c.value, c.repos) for c in store.finding_counts(ids)) == [
        (ids[1], "forbidden", 1),
        (ids[2], "forbidden", 2),
    ]
    with store.engine.connect() as conn:
        assert conn.scalar(text("SELECT COUNT(*) FROM finding_set")) == 2
        assert conn.scalar(text("SELECT COUNT(*) FROM finding_item")) == 3


def test_the_demo_org_round_trips_on_every_backend(store: Store, compiled) -> None:
    """Real detection output, not hand-made rows: long signals (a rule's whole regex) must fit
    PostgreSQL's VARCHAR limits, which SQLite never enforces."""
    from driftscan.collectors.local import DirSource
    from driftscan.engine.detect import detect_repo
    from tests.conftest import DEMO_ORG

    results = [
        detect_repo(compiled, DirSource(p)) for p in sorted(DEMO_ORG.iterdir()) if p.is_dir()
    ]
    assert max(len(e.signal) for r in results for f in r.facts for e in f.evidence) > 512
    scan_id = store.begin_scan([str(DEMO_ORG)], "d", "0")
    store.record(scan_id, results, "d")
    store.finish_scan(scan_id, "complete")
    loaded = store.load_scan(scan_id)
    assert [
        (r.name, r.facts and {(f.dimension, f.value) for f in r.facts}) for r in loaded.repos
    ] == [
        (r.name, r.facts and {(f.dimension, f.value) for f in r.facts})
        for r in sorted(results, key=lambda r: (r.name, r.location))
    ]
    signals = [e.signal for r in loaded.repos for f in r.facts for e in f.evidence]
    assert max(map(len, signals)) == 512 and any(s.endswith("…") for s in signals)


def test_an_unchanged_rescan_shares_every_repository_state(store: Store) -> None:
    batch = [result("api", "a" * 40, "github-actions"), result("web", "b" * 40, "jenkins")]
    for _ in range(3):
        scan_id = store.begin_scan(["/org"], "d", "0")
        store.record(scan_id, batch, "d")
        store.finish_scan(scan_id, "complete")
    changed = store.begin_scan(["/org"], "d", "0")
    store.record(changed, [batch[0], result("web", "c" * 40, "jenkins")], "d")
    store.finish_scan(changed, "complete")
    with store.engine.connect() as conn:
        assert conn.scalar(text("SELECT COUNT(*) FROM repo_state")) == 3  # api, web@b, web@c
        assert conn.scalar(text("SELECT COUNT(*) FROM repo_scan")) == 8
    assert [r.meta.head for r in store.load_scan(changed).repos] == ["a" * 40, "c" * 40]
    assert store.known_heads("d")["/org/web"].head == "c" * 40


def test_repo_scan_rows_of_a_0006_database_move_into_shared_states(db_url: str) -> None:
    old = Store(db_url)
    old.upgrade("0006")
    with old.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO repo (id, name, location, first_seen)"
                " VALUES (1, 'api', '/org/api', '2026-01-05 10:00:00')"
            )
        )
        conn.execute(text("INSERT INTO factset (id, digest, fact_count) VALUES (1, 'x', 1)"))
        conn.execute(
            text(
                "INSERT INTO fact (id, factset_id, category, dimension, value)"
                " VALUES (1, 1, 'ci', 'ci.system', 'jenkins')"
            )
        )
        conn.execute(text("INSERT INTO finding_set (id, digest, finding_count) VALUES (1, 'f', 1)"))
        for scan in (1, 2, 3):
            conn.execute(
                text(
                    "INSERT INTO scan (id, started_at, status, ruleset_digest, tool_version,"
                    f" sources, repo_count) VALUES ({scan}, '2026-0{scan}-05 10:00:00',"
                    " 'complete', 'd0', '0.0.1', '[]', 1)"
                )
            )
            head = "abc" if scan < 3 else "def"
            conn.execute(
                text(
                    "INSERT INTO repo_scan (scan_id, repo_id, head, default_branch, status,"
                    " problems, factset_id, reused, complete, ruleset_digest, topics, owners,"
                    f" finding_set_id) VALUES ({scan}, 1, '{head}', 'main', 'ok',"
                    """ '[["big.yml", "too big"]]', 1, """
                    f"{'true' if scan == 2 else 'false'}, true, 'd0', '[\"web\"]',"
                    """ '["@org/platform"]', 1)"""
                )
            )
    old.upgrade()
    with old.engine.connect() as conn:
        assert conn.scalar(text("SELECT COUNT(*) FROM repo_state")) == 2  # abc, def
    scans = [old.load_scan(i) for i in (1, 2, 3)]
    assert [s.repos[0].meta.head for s in scans] == ["abc", "abc", "def"]
    assert [s.repos[0].reused for s in scans] == [False, True, False]
    first = scans[0].repos[0]
    assert first.values("ci.system") == ("jenkins",)
    assert (first.meta.topics, first.owners) == (("web",), ("@org/platform",))
    assert first.problems[0].path == "big.yml"
    assert old.known_heads("d0")["/org/api"].head == "def"
    assert old.findings(1) == []  # finding_set 1 holds no items, but the link survived
    with old.engine.connect() as conn:
        assert conn.scalar(text("SELECT COUNT(*) FROM repo_scan WHERE finding_set_id = 1")) == 3
    _downgrade(old, "0006")  # and back: the wide rows return, one per scan
    with old.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT scan_id, head, reused, finding_set_id FROM repo_scan ORDER BY scan_id")
        ).all()
    assert [(r[0], r[1], bool(r[2]), r[3]) for r in rows] == [
        (1, "abc", False, 1),
        (2, "abc", True, 1),
        (3, "def", False, 1),
    ]
    old.engine.dispose()


def _downgrade(store: Store, revision: str) -> None:
    store.downgrade(revision)


def test_first_seen_is_the_earliest_scan_that_stored_a_finding(store: Store) -> None:
    from datetime import datetime

    from sqlalchemy import update

    from driftscan.engine.policy import fingerprint
    from driftscan.models import Finding, Outcome
    from driftscan.store.tables import ScanRow

    def finding(repo: str, value: str) -> Finding:
        fp = fingerprint("ci.system", "forbidden", value, f"/org/{repo}")
        return Finding(
            "ci-system", "ci.system", repo, f"/org/{repo}", value, Outcome.FAIL, "forbidden",
            "high", f"{repo} uses {value}", "", fp,
        )  # fmt: skip

    history = [["travis"], ["travis", "jenkins"], ["jenkins"], ["jenkins", "travis"]]
    for month, values in enumerate(history, start=1):
        scan_id = store.begin_scan(["/org"], "d", "0")
        store.record(scan_id, [result("api", f"{month:040d}", *values)], "d")
        store.record_findings(scan_id, [finding("api", v) for v in values])
        store.finish_scan(scan_id, "complete")
        with store.engine.begin() as conn:
            conn.execute(
                update(ScanRow)
                .where(ScanRow.id == scan_id)
                .values(started_at=datetime(2026, month, 1))
            )
    travis, jenkins = finding("api", "travis"), finding("api", "jenkins")
    seen = store.first_seen([travis.fingerprint, jenkins.fingerprint, "unknown"])
    # travis was fixed in March and came back: first seen is still January
    assert seen == {
        travis.fingerprint: datetime(2026, 1, 1),
        jenkins.fingerprint: datetime(2026, 2, 1),
    }
