"""A migration keeps every row a user's history holds: a real scan (facts, evidence, infra
files, findings, repository states) taken back to 0008 and upgraded again loses nothing.

On SQLite a migration that rebuilds a table (Alembic's batch mode) drops the old copy; with
foreign keys on, that DROP deletes every row referring to it (ON DELETE CASCADE) or is refused.
This test fails when the store migrates with foreign keys on."""

from __future__ import annotations

from sqlalchemy import text

from driftscan.effort_runner import record_findings
from driftscan.engine.rules import Ruleset
from driftscan.runner import ScanOptions, run_scan
from driftscan.store.queries import Store
from tests.conftest import DEMO_ORG

TABLES = (
    "scan",
    "repo",
    "repo_scan",
    "repo_state",
    "factset",
    "fact",
    "evidence",
    "version_use",
    "infra_content",
    "infra_file",
    "finding_set",
    "finding_item",
    "scan_count",
)


def _counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {t: int(conn.scalar(text(f"SELECT COUNT(*) FROM {t}")) or 0) for t in TABLES}


def test_a_scanned_history_survives_a_downgrade_and_an_upgrade(
    store: Store, ruleset: Ruleset
) -> None:
    targets = [str(p) for p in sorted(DEMO_ORG.iterdir()) if p.is_dir()]
    outcome = run_scan(targets, store, ruleset, ScanOptions(jobs=1))
    summary = store.load_scan(outcome.scan_id)
    record_findings(store, summary, ruleset, None)
    before = _counts(store)
    assert before["infra_file"] > 0 and before["finding_item"] > 0 and before["evidence"] > 0

    store.downgrade("0008")
    assert store.current_revision() == "0008"
    assert _counts(store) == before
    store.upgrade()
    assert _counts(store) == before
    again = store.load_scan(outcome.scan_id)
    assert [(r.name, r.facts) for r in again.repos] == [(r.name, r.facts) for r in summary.repos]
