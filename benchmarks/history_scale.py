"""How the stored history grows: many scans of a large org where a few repos change each time.

    python benchmarks/history_scale.py                      # 100 scans of 10,000 repos
    python benchmarks/history_scale.py --repos 2000 --scans 20

Synthesises repository results the way a scheduled scan records them (facts with evidence,
tool versions, findings against the org norm), 5% of repositories changing per scan, into a
fresh SQLite file. Reports the database size, what one unchanged rescan adds, where the bytes
go per table, and the time of the main trend queries. Targets (issue 7): database < 500 MB
after 100 scans of 10,000 repos, each trend query < 1 s, an unchanged rescan < 1 MB.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from driftscan.engine.analyse import divergence
from driftscan.engine.policy import evaluate
from driftscan.engine.rules import Rule, load_ruleset
from driftscan.engine.trend import choose_repos, finding_changes, trend
from driftscan.models import Evidence, Fact, RepoMeta, RepoResult, RepoStatus, VersionUse
from driftscan.store.queries import Store

CHOICES = {
    ("ci", "ci.system"): [
        ("github-actions", 60),
        ("jenkins", 20),
        ("gitlab-ci", 10),
        ("travis", 5),
    ],
    ("deploy", "deploy.method"): [("helm", 40), ("kubernetes-manifests", 25), ("terraform", 20)],
    ("secrets", "secrets.handling"): [("vault", 40), ("ci-secrets", 50), ("dotenv-committed", 4)],
    ("monitoring", "monitoring.stack"): [("prometheus", 50), ("datadog", 25), ("sentry", 30)],
}
EVIDENCE_PATH = {
    "github-actions": ".github/workflows/ci.yml",
    "jenkins": "Jenkinsfile",
    "gitlab-ci": ".gitlab-ci.yml",
    "travis": ".travis.yml",
}


def repo_state(rng: random.Random, name: str, generation: int) -> RepoResult:
    facts = []
    for (category, dimension), options in CHOICES.items():
        for value, percent in options:
            if rng.randrange(100) < percent:
                path = EVIDENCE_PATH.get(value, f"{value}/main.yaml")
                facts.append(
                    Fact(
                        category,
                        dimension,
                        value,
                        (Evidence(path, rng.randint(1, 80), f"{value} marker"),),
                    )
                )
    versions = tuple(
        VersionUse(
            "action", "actions/checkout", f"v{rng.choice([2, 3, 4])}", ".github/workflows/ci.yml", 9
        )
        for _ in range(1)
    )
    return RepoResult(
        name=name,
        location=f"https://github.com/acme/{name}",
        meta=RepoMeta(
            default_branch="main", head=f"{hash((name, generation)) & (2**160 - 1):040x}"
        ),
        status=RepoStatus.OK,
        facts=tuple(facts),
        versions=versions,
        owners=(f"@acme/team-{rng.randrange(40)}",),
    )


def record_scan(store: Store, rules: Sequence[Rule], results: list[RepoResult]) -> None:
    """What a scheduled scan writes: results in batches, then findings against the norm."""
    scan_id = store.begin_scan(["github:acme"], "digest", "bench")
    for start in range(0, len(results), 500):
        store.record(scan_id, results[start : start + 500], "digest")
    store.finish_scan(scan_id, "complete")
    store.record_findings(scan_id, evaluate(rules, results, divergence(rules, results), None))


def db_bytes(store: Store, path: Path) -> int:
    """The file's size once the write-ahead log is folded in (the WAL is reused, not shrunk,
    so counting it would add noise, not data)."""
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def table_bytes(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
        ).fetchall()
    except sqlite3.OperationalError:  # SQLite built without dbstat
        rows = []
    conn.close()
    return dict(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=10_000)
    parser.add_argument("--scans", type=int, default=100)
    parser.add_argument(
        "--change", type=float, default=0.05, help="share of repos changing per scan"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--keep", type=Path, default=None, help="copy the database here for further queries"
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rules = load_ruleset().rules
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.db"
        store = Store(f"sqlite:///{path}")
        store.ensure_schema()
        names = [f"svc-{i:05d}" for i in range(args.repos)]
        generation = dict.fromkeys(names, 0)
        states = {name: repo_state(rng, name, 0) for name in names}
        started = time.perf_counter()
        sizes = []
        for scan in range(args.scans):
            if scan:
                for name in rng.sample(names, int(len(names) * args.change)):
                    generation[name] += 1
                    states[name] = repo_state(rng, name, generation[name])
            before = db_bytes(store, path)
            record_scan(store, rules, [states[n] for n in names])
            sizes.append(db_bytes(store, path) - before)
            if scan % 10 == 0 or scan == args.scans - 1:
                total, added = db_bytes(store, path) / 2**20, sizes[-1] / 2**20
                print(f"scan {scan + 1:>3}: db {total:7.1f} MiB, +{added:.2f} MiB")
        elapsed = time.perf_counter() - started
        # an unchanged rescan: the same states again
        before = db_bytes(store, path)
        record_scan(store, rules, [states[n] for n in names])
        unchanged = db_bytes(store, path) - before
        timings = {}
        for label, dims in [("trend ci.system", ["ci.system"]), ("trend all dimensions", [])]:
            t = time.perf_counter()
            scans, values, covered = store.trend_counts(dims)
            trend(scans, values, "month", covered)
            timings[label] = time.perf_counter() - t
        t = time.perf_counter()
        store.known_heads("digest")  # what every scan reads first, to reuse unchanged repos
        timings["known heads (start of a scan)"] = time.perf_counter() - t
        t = time.perf_counter()
        newest = max(s.scan_id for s in store.trend_scans())
        team = choose_repos(store.repo_owners(newest), globs=["svc-00[0-4]*"])  # 500 repos
        scans, values, covered = store.trend_counts([], repo_ids=team.repo_ids)
        trend(scans, values, "month", covered, scope=team.scope)
        timings[f"trend all dimensions, {len(team.repo_ids)} repos (a team)"] = (
            time.perf_counter() - t
        )
        t = time.perf_counter()
        scans = store.trend_scans()
        trend(scans, store.finding_counts([s.scan_id for s in scans]), "month")
        failing = store.failing_findings(scans[-1].scan_id)
        first = store.failing_findings(scans[0].scan_id)
        finding_changes("#1", first, failing, store.first_seen(failing), scans[-1].at)
        timings[f"trend --findings (new/fixed/open, {len(failing)} open)"] = time.perf_counter() - t
        store.engine.dispose()
        print(
            f"\n{args.scans + 1} scans of {args.repos} repos, {args.change:.0%} changing per scan"
        )
        print(f"recording: {elapsed:.1f} s ({elapsed / args.scans:.2f} s per scan)")
        print(f"database: {db_bytes(store, path) / 2**20:.1f} MiB")
        print(f"unchanged rescan adds: {unchanged / 2**20:.2f} MiB")
        for label, seconds in timings.items():
            print(f"{label}: {seconds:.2f} s")
        print("bytes per table/index:")
        for name, size in list(table_bytes(path).items())[:10]:
            print(f"  {name:32} {size / 2**20:8.1f} MiB")
        if args.keep:
            shutil.copy(path, args.keep)


if __name__ == "__main__":
    main()
